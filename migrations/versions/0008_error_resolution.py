"""Errors are resolved when the same file later succeeds: ``errors.resolved_at``.

Existing rows are kept; an error whose file has an evaluation made after it is marked resolved at the time
of that evaluation, so an upgraded library shows only the errors still open.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("errors", sa.Column("resolved_at", sa.DateTime, nullable=True))  # plain ALTER: triggers stay
    op.create_index("ix_errors_open_path", "errors", ["resolved_at", "path"])
    op.execute(
        """
        UPDATE errors SET resolved_at = (
            SELECT min(e.created_at) FROM evaluations e JOIN images i ON i.id = e.image_id
            WHERE i.path = errors.path AND e.created_at >= errors.created_at
        )
        WHERE resolved_at IS NULL
        """
    )


def downgrade() -> None:
    op.drop_index("ix_errors_open_path", "errors")
    with op.batch_alter_table("errors") as batch:
        batch.drop_column("resolved_at")
