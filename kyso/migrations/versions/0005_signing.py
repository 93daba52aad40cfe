"""Signing: officials' consent methods, the record of every signature, appearance images.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_consents",
        sa.Column("official_id", sa.Integer, sa.ForeignKey("officials.id", name="fk_signing_consents_official"),
                  nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("pin_hash", sa.String(200)),
        sa.Column("totp_label", sa.String(100)),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True)),
        sa.Column("last_totp_step", sa.Integer),
        sa.Column("window_start", sa.DateTime(timezone=True)),
        sa.Column("window_attempts", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("official_id", name="pk_signing_consents"),
    )
    op.create_table(
        "signatures",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id", name="fk_signatures_agency"), nullable=False),
        sa.Column("official_id", sa.Integer, sa.ForeignKey("officials.id", name="fk_signatures_official")),
        sa.Column("certificate_id", sa.Integer, sa.ForeignKey("certificates.id", name="fk_signatures_certificate"),
                  nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("scheme", sa.String(30), nullable=False),
        sa.Column("document_digest", sa.String(140), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signatures"),
    )
    op.create_index("ix_signatures_created_at", "signatures", ["created_at"])
    op.create_index("ix_signatures_agency_id", "signatures", ["agency_id"])
    op.create_index("ix_signatures_official_id", "signatures", ["official_id"])
    op.create_table(
        "appearance_images",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("owner_id", sa.Integer, nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_appearance_images"),
        sa.UniqueConstraint("kind", "owner_id", name="uq_appearance_images_owner"),
    )


def downgrade() -> None:
    op.drop_table("appearance_images")
    op.drop_table("signatures")
    op.drop_table("signing_consents")
