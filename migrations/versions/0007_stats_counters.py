"""Counters for `artimuse stats`, kept by triggers, so stats reads a few hundred rows instead of scanning
every current score (1 M evaluations: from ~1 s to milliseconds).

``row_counts`` holds the row count of each table (and of missing images); ``score_bins`` holds, per category
('' for none) and one-point score bin (floor of the score), how many current evaluations fall there and
the sum of their scores. Triggers on every insert, delete and relevant update keep both exact, inside the
writing transaction. Other databases compute stats by scanning (``library.stats``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COUNTED = ("images", "evaluations", "critiques", "ratings", "errors")
BIN = "CAST({row}.score AS INTEGER)"  # scores are >= 0, so SQLite's truncating CAST is the floor
CATEGORY = "COALESCE({row}.category, '')"


def _add(row: str) -> str:
    return (
        f"INSERT INTO score_bins (category, bin, count, total) SELECT {CATEGORY.format(row=row)}, "
        f"{BIN.format(row=row)}, 1, {row}.score WHERE {row}.current "
        "ON CONFLICT (category, bin) DO UPDATE SET count = count + 1, total = total + excluded.total;"
    )


def _remove(row: str) -> str:
    where = f"WHERE {row}.current AND category = {CATEGORY.format(row=row)} AND bin = {BIN.format(row=row)}"
    return (
        f"UPDATE score_bins SET count = count - 1, total = total - {row}.score {where}; "
        f"DELETE FROM score_bins {where} AND count = 0;"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE row_counts (name TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID")
    op.execute(
        "CREATE TABLE score_bins (category TEXT NOT NULL, bin INTEGER NOT NULL, count INTEGER NOT NULL, "
        "total REAL NOT NULL, PRIMARY KEY (category, bin)) WITHOUT ROWID"
    )
    for table in COUNTED:
        op.execute(f"INSERT INTO row_counts SELECT '{table}', count(*) FROM {table}")
        op.execute(
            f"CREATE TRIGGER {table}_count_ai AFTER INSERT ON {table} BEGIN "
            f"UPDATE row_counts SET count = count + 1 WHERE name = '{table}'; END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_count_ad AFTER DELETE ON {table} BEGIN "
            f"UPDATE row_counts SET count = count - 1 WHERE name = '{table}'; END"
        )
    op.execute("INSERT INTO row_counts SELECT 'missing_images', count(*) FROM images WHERE missing")
    op.execute(
        "CREATE TRIGGER images_missing_ai AFTER INSERT ON images WHEN new.missing BEGIN "
        "UPDATE row_counts SET count = count + 1 WHERE name = 'missing_images'; END"
    )
    op.execute(
        "CREATE TRIGGER images_missing_ad AFTER DELETE ON images WHEN old.missing BEGIN "
        "UPDATE row_counts SET count = count - 1 WHERE name = 'missing_images'; END"
    )
    op.execute(
        "CREATE TRIGGER images_missing_au AFTER UPDATE OF missing ON images "
        "WHEN new.missing IS NOT old.missing BEGIN UPDATE row_counts SET count = count + "
        "(CASE WHEN new.missing THEN 1 ELSE -1 END) WHERE name = 'missing_images'; END"
    )
    op.execute(
        "INSERT INTO score_bins SELECT COALESCE(category, ''), CAST(score AS INTEGER), count(*), sum(score) "
        "FROM evaluations WHERE current GROUP BY 1, 2"
    )
    op.execute(f"CREATE TRIGGER evaluations_bins_ai AFTER INSERT ON evaluations BEGIN {_add('new')} END")
    op.execute(f"CREATE TRIGGER evaluations_bins_ad AFTER DELETE ON evaluations BEGIN {_remove('old')} END")
    op.execute(
        "CREATE TRIGGER evaluations_bins_au AFTER UPDATE OF current, category, score ON evaluations "
        "WHEN old.current OR new.current BEGIN " + _remove("old") + " " + _add("new") + " END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    triggers = [f"{t}_count_{w}" for t in COUNTED for w in ("ai", "ad")]
    triggers += [
        "images_missing_ai",
        "images_missing_ad",
        "images_missing_au",
        "evaluations_bins_ai",
        "evaluations_bins_ad",
        "evaluations_bins_au",
    ]
    for trigger in triggers:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS score_bins")
    op.execute("DROP TABLE IF EXISTS row_counts")
