"""Revocations of the CA's own service certificates wait for a second CA admin (issue 13,
item 15).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocation_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("certificate_id", sa.Integer, sa.ForeignKey("certificates.id"), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("invalidity_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text, nullable=True),
    )
    op.create_index("ix_revocation_requests_certificate_id", "revocation_requests", ["certificate_id"])


def downgrade() -> None:
    op.drop_index("ix_revocation_requests_certificate_id", "revocation_requests")
    op.drop_table("revocation_requests")
