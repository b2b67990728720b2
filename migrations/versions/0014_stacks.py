"""Stacks: each image's perceptual hash and the stack it belongs to (``perceptual_hashes``), keyed by image id
so that a stack survives moves and renames as scores do; an index on ``images.captured_at`` for the burst
window.

``hash`` is the 64-bit DCT hash as a signed integer; ``part0``..``part3`` are its four 16-bit chunks, each
indexed: the library's multi-index search for near-duplicates of an arriving picture reads the rows whose
chunk lies within a few bits of its own, never the whole table. ``stack_id`` is the smallest image id among
the stack's members (NULL: alone). Downgrading drops them (hashes are computed again from the files).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "perceptual_hashes",
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("hash", sa.BigInteger, nullable=False),
        *(sa.Column(f"part{i}", sa.Integer, nullable=False) for i in range(4)),
        sa.Column("stack_id", sa.Integer),
    )
    for i in range(4):
        op.create_index(f"ix_perceptual_hashes_part{i}", "perceptual_hashes", [f"part{i}"])
    op.create_index("ix_perceptual_hashes_stack_id", "perceptual_hashes", ["stack_id"])
    op.create_index("ix_images_captured_at", "images", ["captured_at"])


def downgrade() -> None:
    op.drop_index("ix_images_captured_at", "images")
    op.drop_table("perceptual_hashes")
