"""Full-text search over critiques (SQLite FTS5), filled from the critiques already stored.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # other databases search with LIKE
    op.execute("CREATE VIRTUAL TABLE critiques_fts USING fts5(text, content='critiques', content_rowid='id')")
    op.execute("INSERT INTO critiques_fts(rowid, text) SELECT id, text FROM critiques")
    op.execute(
        "CREATE TRIGGER critiques_ai AFTER INSERT ON critiques BEGIN "
        "INSERT INTO critiques_fts(rowid, text) VALUES (new.id, new.text); END"
    )
    op.execute(
        "CREATE TRIGGER critiques_ad AFTER DELETE ON critiques BEGIN "
        "INSERT INTO critiques_fts(critiques_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
    )
    op.execute(
        "CREATE TRIGGER critiques_au AFTER UPDATE ON critiques BEGIN "
        "INSERT INTO critiques_fts(critiques_fts, rowid, text) VALUES ('delete', old.id, old.text); "
        "INSERT INTO critiques_fts(rowid, text) VALUES (new.id, new.text); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("critiques_ai", "critiques_ad", "critiques_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS critiques_fts")
