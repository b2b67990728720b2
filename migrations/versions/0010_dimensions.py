"""Scores per perceptual dimension: each evaluation row is the score of one dimension (``iaa``
aesthetics, ``iqa`` technical quality, ``ista`` structure and texture richness; UniPercept scores all three,
ArtiMuse ``iaa``). Existing rows are ``iaa``. Rankings and percentiles read the (current, dimension,
category, score) index; the stats counters (0007) are kept per dimension.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIN = "CAST({row}.score AS INTEGER)"  # as 0007: scores are >= 0, so SQLite's truncating CAST is the floor
CATEGORY = "COALESCE({row}.category, '')"


def _add(row: str) -> str:
    return (
        f"INSERT INTO score_bins (dimension, category, bin, count, total) SELECT {row}.dimension, "
        f"{CATEGORY.format(row=row)}, {BIN.format(row=row)}, 1, {row}.score WHERE {row}.current "
        "ON CONFLICT (dimension, category, bin) DO UPDATE SET count = count + 1, total = total + excluded.total;"
    )


def _remove(row: str) -> str:
    where = (
        f"WHERE {row}.current AND dimension = {row}.dimension AND category = {CATEGORY.format(row=row)} "
        f"AND bin = {BIN.format(row=row)}"
    )
    return (
        f"UPDATE score_bins SET count = count - 1, total = total - {row}.score {where}; "
        f"DELETE FROM score_bins {where} AND count = 0;"
    )


def upgrade() -> None:
    # ADD COLUMN in place (no table rebuild: the triggers of 0006/0007 on evaluations stay).
    op.add_column("evaluations", sa.Column("dimension", sa.String(16), nullable=False, server_default="iaa"))
    op.create_index(
        "ix_evaluations_current_dimension_category_score", "evaluations", ["current", "dimension", "category", "score"]
    )
    op.create_index("ix_evaluations_current_dimension_score", "evaluations", ["current", "dimension", "score"])
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("evaluations_bins_ai", "evaluations_bins_ad", "evaluations_bins_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS score_bins")
    op.execute(
        "CREATE TABLE score_bins (dimension TEXT NOT NULL, category TEXT NOT NULL, bin INTEGER NOT NULL, "
        "count INTEGER NOT NULL, total REAL NOT NULL, PRIMARY KEY (dimension, category, bin)) WITHOUT ROWID"
    )
    op.execute(
        "INSERT INTO score_bins SELECT dimension, COALESCE(category, ''), CAST(score AS INTEGER), count(*), "
        "sum(score) FROM evaluations WHERE current GROUP BY 1, 2, 3"
    )
    op.execute(f"CREATE TRIGGER evaluations_bins_ai AFTER INSERT ON evaluations BEGIN {_add('new')} END")
    op.execute(f"CREATE TRIGGER evaluations_bins_ad AFTER DELETE ON evaluations BEGIN {_remove('old')} END")
    op.execute(
        "CREATE TRIGGER evaluations_bins_au AFTER UPDATE OF current, category, score, dimension ON evaluations "
        "WHEN old.current OR new.current BEGIN " + _remove("old") + " " + _add("new") + " END"
    )


def downgrade() -> None:
    """Back to one score per image: only the ``iaa`` rows stay; 0007's counters as 0007 makes them."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for trigger in ("evaluations_bins_ai", "evaluations_bins_ad", "evaluations_bins_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS score_bins")
    op.execute("DELETE FROM evaluations WHERE dimension != 'iaa'")
    op.drop_index("ix_evaluations_current_dimension_score", "evaluations")
    op.drop_index("ix_evaluations_current_dimension_category_score", "evaluations")
    op.drop_column("evaluations", "dimension")
    if not sqlite:
        return
    op.execute(
        "CREATE TABLE score_bins (category TEXT NOT NULL, bin INTEGER NOT NULL, count INTEGER NOT NULL, "
        "total REAL NOT NULL, PRIMARY KEY (category, bin)) WITHOUT ROWID"
    )
    op.execute(
        "INSERT INTO score_bins SELECT COALESCE(category, ''), CAST(score AS INTEGER), count(*), sum(score) "
        "FROM evaluations WHERE current GROUP BY 1, 2"
    )
    add = (
        "INSERT INTO score_bins (category, bin, count, total) SELECT COALESCE(new.category, ''), "
        "CAST(new.score AS INTEGER), 1, new.score WHERE new.current ON CONFLICT (category, bin) DO UPDATE SET "
        "count = count + 1, total = total + excluded.total;"
    )
    where = "WHERE old.current AND category = COALESCE(old.category, '') AND bin = CAST(old.score AS INTEGER)"
    remove = (
        f"UPDATE score_bins SET count = count - 1, total = total - old.score {where}; "
        f"DELETE FROM score_bins {where} AND count = 0;"
    )
    op.execute(f"CREATE TRIGGER evaluations_bins_ai AFTER INSERT ON evaluations BEGIN {add} END")
    op.execute(f"CREATE TRIGGER evaluations_bins_ad AFTER DELETE ON evaluations BEGIN {remove} END")
    op.execute(
        "CREATE TRIGGER evaluations_bins_au AFTER UPDATE OF current, category, score ON evaluations "
        f"WHEN old.current OR new.current BEGIN {remove} {add} END"
    )
