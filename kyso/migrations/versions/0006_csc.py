"""CSC API: signature activation data (SAD) handed out by credentials/authorize.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "csc_activations",
        sa.Column("sad_sha256", sa.String(64), nullable=False),
        sa.Column("certificate_id", sa.Integer,
                  sa.ForeignKey("certificates.id", name="fk_csc_activations_certificate"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", name="fk_csc_activations_user"), nullable=False),
        sa.Column("remaining", sa.Integer, nullable=False),
        sa.Column("hashes", sa.Text),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sad_sha256", name="pk_csc_activations"),
    )
    op.create_index("ix_csc_activations_expires_at", "csc_activations", ["expires_at"])


def downgrade() -> None:
    op.drop_table("csc_activations")
