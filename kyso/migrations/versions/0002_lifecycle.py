"""Certificate lifecycle: agencies, officials, client bindings, requests, certificates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(35), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("name_folded", sa.String(300), nullable=False),
        sa.Column("parent_id", sa.Integer, nullable=True),
        sa.Column("locality", sa.String(200), nullable=False),
        sa.Column("tax_code", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agencies"),
        sa.UniqueConstraint("code", name="uq_agencies_code"),
        sa.ForeignKeyConstraint(["parent_id"], ["agencies.id"], name="fk_agencies_parent_id_agencies"),
    )
    op.create_index("ix_agencies_name_folded", "agencies", ["name_folded"])
    op.create_table(
        "officials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("name_folded", sa.String(200), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("agency_id", sa.Integer, nullable=False),
        sa.Column("citizen_id", sa.String(12), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_officials"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name="fk_officials_agency_id_agencies"),
    )
    op.create_index("ix_officials_name_folded", "officials", ["name_folded"])
    op.create_index("ix_officials_agency_id", "officials", ["agency_id"])
    op.create_table(
        "client_agencies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("agency_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_client_agencies"),
        sa.UniqueConstraint("user_id", "agency_id", name="uq_client_agencies_user_agency"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_client_agencies_user_id_users"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name="fk_client_agencies_agency_id_agencies"),
    )
    op.create_index("ix_client_agencies_user_id", "client_agencies", ["user_id"])
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("serial_hex", sa.String(42), nullable=False),
        sa.Column("issuer_id", sa.Integer, nullable=False),
        sa.Column("profile", sa.String(50), nullable=False),
        sa.Column("agency_id", sa.Integer, nullable=True),
        sa.Column("official_id", sa.Integer, nullable=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("spki_sha256", sa.String(64), nullable=False),
        sa.Column("key_label", sa.String(100), nullable=True),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("not_after", TS, nullable=False),
        sa.Column("certificate_der", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revocation_reason", sa.String(40), nullable=True),
        sa.Column("invalidity_date", TS, nullable=True),
        sa.Column("request_id", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_certificates"),
        sa.UniqueConstraint("serial_hex", name="uq_certificates_serial_hex"),
        sa.ForeignKeyConstraint(["issuer_id"], ["certificate_authorities.id"],
                                name="fk_certificates_issuer_id_certificate_authorities"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name="fk_certificates_agency_id_agencies"),
        sa.ForeignKeyConstraint(["official_id"], ["officials.id"], name="fk_certificates_official_id_officials"),
    )
    for col in ("profile", "agency_id", "official_id", "spki_sha256", "not_after", "status"):
        op.create_index(f"ix_certificates_{col}", "certificates", [col])
    op.create_table(
        "certificate_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("profile", sa.String(50), nullable=False),
        sa.Column("agency_id", sa.Integer, nullable=True),
        sa.Column("official_id", sa.Integer, nullable=True),
        sa.Column("common_name", sa.String(200), nullable=False),
        sa.Column("key_source", sa.String(10), nullable=False),
        sa.Column("csr_der", sa.LargeBinary, nullable=True),
        sa.Column("spki_der", sa.LargeBinary, nullable=True),
        sa.Column("key_spec", sa.String(20), nullable=False),
        sa.Column("key_label", sa.String(100), nullable=True),
        sa.Column("previous_id", sa.Integer, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("certificate_id", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_certificate_requests"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name="fk_certificate_requests_agency_id_agencies"),
        sa.ForeignKeyConstraint(["official_id"], ["officials.id"],
                                name="fk_certificate_requests_official_id_officials"),
        sa.ForeignKeyConstraint(["previous_id"], ["certificates.id"],
                                name="fk_certificate_requests_previous_id_certificates"),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"],
                                name="fk_certificate_requests_certificate_id_certificates"),
    )
    op.create_index("ix_certificate_requests_agency_id", "certificate_requests", ["agency_id"])
    op.create_index("ix_certificate_requests_status", "certificate_requests", ["status"])
    op.create_table(
        "hsm_key_intents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(50), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hsm_key_intents"),
        sa.UniqueConstraint("label", name="uq_hsm_key_intents_label"),
    )
    # At most one active root and one active issuing CA, whatever races the application loses.
    op.create_index("uq_certificate_authorities_active_role", "certificate_authorities", ["role"],
                    unique=True, sqlite_where=sa.text("status = 'active' AND role IN ('root', 'issuing')"),
                    postgresql_where=sa.text("status = 'active' AND role IN ('root', 'issuing')"))


def downgrade() -> None:
    op.drop_index("uq_certificate_authorities_active_role", "certificate_authorities")
    op.drop_table("hsm_key_intents")
    op.drop_table("certificate_requests")
    op.drop_table("certificates")
    op.drop_table("client_agencies")
    op.drop_table("officials")
    op.drop_table("agencies")
