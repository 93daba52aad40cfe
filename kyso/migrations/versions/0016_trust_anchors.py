"""Trust anchors as admin data (issue 14, Deliver 5): roots a CA admin adds after comparing
their SHA-256 fingerprint with the publisher's, with who added each and when.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trust_anchors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.String(1000), nullable=False),
        sa.Column("issuer", sa.String(1000), nullable=False),
        sa.Column("serial_hex", sa.String(80), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trust_anchors")
