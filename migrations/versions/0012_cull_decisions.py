"""Culling decisions: a pick flag beside the stars (``ratings.picked``), decisions without stars (a pick of an
unrated image, a clear: ``ratings.score`` may be NULL), and when each picture was taken (``images.captured_at``,
seconds since the epoch from EXIF DateTimeOriginal + SubSecTimeOriginal; NULL: sorts fall back to mtime).

On SQLite, making ``score`` nullable rebuilds the small ratings table (batch mode); its row-count triggers
(0007) go with the old table and are made again here. Downgrading drops the decisions that hold no score
(picks of unrated images, clears) and the pick flags.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _count_triggers() -> None:
    """0007's row-count triggers on ratings (a rebuilt table lost them), where the counters exist."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'row_counts'").first() is None:
        return
    op.execute("DROP TRIGGER IF EXISTS ratings_count_ai")
    op.execute("DROP TRIGGER IF EXISTS ratings_count_ad")
    op.execute(
        "CREATE TRIGGER ratings_count_ai AFTER INSERT ON ratings BEGIN "
        "UPDATE row_counts SET count = count + 1 WHERE name = 'ratings'; END"
    )
    op.execute(
        "CREATE TRIGGER ratings_count_ad AFTER DELETE ON ratings BEGIN "
        "UPDATE row_counts SET count = count - 1 WHERE name = 'ratings'; END"
    )
    op.execute("UPDATE row_counts SET count = (SELECT count(*) FROM ratings) WHERE name = 'ratings'")


def upgrade() -> None:
    op.add_column("images", sa.Column("captured_at", sa.Float))
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("picked", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.alter_column("score", existing_type=sa.Float, nullable=True)
    _count_triggers()


def downgrade() -> None:
    op.execute("DELETE FROM ratings WHERE score IS NULL")
    with op.batch_alter_table("ratings") as batch:
        batch.alter_column("score", existing_type=sa.Float, nullable=False)
        batch.drop_column("picked")
    _count_triggers()
    # In place, never a rebuild: dropping the old images table would cascade to every row that refers to it.
    op.drop_column("images", "captured_at")
