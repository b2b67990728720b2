"""A durable job queue for the watcher: a job is recorded before its file is processed and completed in
the same transaction as its results.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),  # score | critique
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.Integer),
        sa.Column("mtime", sa.Float),
        sa.Column("status", sa.String(16), nullable=False),  # pending | done | failed | gone
        sa.Column("options", sa.JSON),
        sa.Column("evaluation_id", sa.Integer, sa.ForeignKey("evaluations.id", ondelete="SET NULL")),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("enqueued_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_jobs_status_kind", "jobs", ["status", "kind", "id"])
    op.create_index("ix_jobs_path", "jobs", ["path"])


def downgrade() -> None:
    op.drop_table("jobs")
