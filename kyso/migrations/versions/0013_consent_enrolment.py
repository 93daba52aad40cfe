"""The official enrols their own consent: enrolments started by staff and completed with a
one-time activation code; consent set by staff before this is marked as such (issue 13,
item 4).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_enrolments",
        sa.Column("reference", sa.String(16), primary_key=True),
        sa.Column("official_id", sa.Integer, sa.ForeignKey("officials.id"), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_consent_enrolments_official_id", "consent_enrolments", ["official_id"])
    with op.batch_alter_table("signing_consents") as batch:
        batch.add_column(sa.Column("self_enrolled", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("signing_consents") as batch:
        batch.drop_column("self_enrolled")
    op.drop_index("ix_consent_enrolments_official_id", "consent_enrolments")
    op.drop_table("consent_enrolments")
