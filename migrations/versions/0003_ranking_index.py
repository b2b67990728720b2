"""Copy each image's category onto its evaluations, indexed with the score, so that ranking a category
reads one index range instead of sorting every evaluation of that category (1M-row libraries).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("evaluations", sa.Column("category", sa.String(32)))
    op.execute("UPDATE evaluations SET category = (SELECT category FROM images WHERE images.id = evaluations.image_id)")
    op.create_index("ix_evaluations_current_category_score", "evaluations", ["current", "category", "score"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_current_category_score", table_name="evaluations")
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("category")
