"""Index current scores by (dimension, model fingerprint, score), so that ranking one score among the
library's other scores by the same model (``percentile_ranks``: ``top --percentile``, ``show``) counts short
ranges of one index instead of reading every current evaluation of the dimension (1 M-evaluation libraries).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_evaluations_current_dimension_fingerprint_score",
        "evaluations",
        ["current", "dimension", "model_fingerprint", "score"],
    )


def downgrade() -> None:
    op.drop_index("ix_evaluations_current_dimension_fingerprint_score", "evaluations")
