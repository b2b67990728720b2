"""Critique search with stemming and prefixes: rebuild the FTS5 index with the porter tokenizer.

Porter stemming lets "lines" find "line"; prefix queries ("dumm"*) run on the term index without extra
prefix indexes (those doubled the indexing cost per critique, measured while writing this migration).
Diacritics are folded ("café" finds "cafe").

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TOKENIZERS = {"0006": "porter unicode61 remove_diacritics 2", "0002": "unicode61"}


def create(tokenizer: str) -> None:
    op.execute(
        "CREATE VIRTUAL TABLE critiques_fts USING fts5(text, content='critiques', content_rowid='id', "
        f"tokenize='{tokenizer}')"
    )
    op.execute("INSERT INTO critiques_fts(critiques_fts) VALUES ('rebuild')")
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


def drop() -> None:
    for trigger in ("critiques_ai", "critiques_ad", "critiques_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS critiques_fts")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # other databases search with LIKE
    drop()
    create(TOKENIZERS["0006"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    drop()
    create(TOKENIZERS["0002"])
