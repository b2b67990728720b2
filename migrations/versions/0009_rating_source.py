"""Where a rating came from, and reject flags: ``ratings.source`` and ``ratings.rejected``.

``source`` is ``user`` for ``artimuse rate`` (every existing row), ``xmp:lightroom``, ``xmp:darktable``,
``xmp:embedded`` or ``exif`` for ``artimuse ratings import``; ``finetune --rating-source`` filters on it.
``rejected`` marks a photo manager's reject (``xmp:Rating`` -1): kept, never trained on (a cull is not a
grade). Both are added in place (``ALTER TABLE ADD COLUMN``): every existing row and the counters' triggers
on the table are kept.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ratings", sa.Column("source", sa.String(64), nullable=False, server_default="user"))
    op.add_column("ratings", sa.Column("rejected", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_ratings_source", "ratings", ["source"])


def downgrade() -> None:
    op.drop_index("ix_ratings_source", "ratings")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("rejected")
        batch.drop_column("source")
