"""Time-stamping: every token's serial, time and imprint.

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
        "timestamp_tokens",
        sa.Column("serial", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hash_algorithm", sa.String(10), nullable=False),
        sa.Column("imprint_hex", sa.String(128), nullable=False),
        sa.Column("policy", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("serial", name="pk_timestamp_tokens"),
    )
    op.create_index("ix_timestamp_tokens_gen_time", "timestamp_tokens", ["gen_time"])


def downgrade() -> None:
    op.drop_table("timestamp_tokens")
