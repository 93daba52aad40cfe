"""CRLs and OCSP: published lists, kept CRL entries, pre-produced OCSP responses.

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

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crls",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("issuer_id", sa.Integer, nullable=False),
        sa.Column("crl_number", sa.Integer, nullable=False),
        sa.Column("this_update", TS, nullable=False),
        sa.Column("next_update", TS, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crls"),
        sa.UniqueConstraint("issuer_id", "crl_number", name="uq_crls_issuer_number"),
        sa.ForeignKeyConstraint(["issuer_id"], ["certificate_authorities.id"],
                                name="fk_crls_issuer_id_certificate_authorities"),
    )
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("crl_entry_der", sa.LargeBinary, nullable=True))
    op.create_table(
        "ocsp_responses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("certificate_id", sa.Integer, nullable=False),
        sa.Column("hash_algorithm", sa.String(10), nullable=False),
        sa.Column("this_update", TS, nullable=False),
        sa.Column("next_update", TS, nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ocsp_responses"),
        sa.UniqueConstraint("certificate_id", "hash_algorithm", name="uq_ocsp_responses_cert_hash"),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"],
                                name="fk_ocsp_responses_certificate_id_certificates"),
    )
    op.create_index("ix_ocsp_responses_next_update", "ocsp_responses", ["next_update"])


def downgrade() -> None:
    op.drop_table("ocsp_responses")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("crl_entry_der")
    op.drop_table("crls")
