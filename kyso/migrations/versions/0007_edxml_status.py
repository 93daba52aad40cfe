"""edXML documents and their status history (issue 8).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edxml_documents",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("document_id", sa.String(200), nullable=False),
        sa.Column("sender", sa.String(40), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("recipients_known", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_edxml_documents"),
        sa.UniqueConstraint("document_id", name="uq_edxml_documents_document_id"),
    )
    op.create_index("ix_edxml_documents_sender", "edxml_documents", ["sender"])
    op.create_table(
        "edxml_status_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("document_pk", sa.Integer,
                  sa.ForeignKey("edxml_documents.id", name="fk_edxml_status_events_document_pk"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("track", sa.String(40), nullable=False),
        sa.Column("code", sa.String(2), nullable=False),
        sa.Column("from_organ", sa.String(40), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("staff", sa.Text, nullable=False),
        sa.Column("message_timestamp", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("signature", sa.String(60), nullable=False),
        sa.Column("message_sha256", sa.String(64), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_edxml_status_events"),
        sa.UniqueConstraint("document_pk", "seq", name="uq_edxml_status_events_seq"),
    )
    op.create_index("ix_edxml_status_events_document_pk", "edxml_status_events", ["document_pk"])


def downgrade() -> None:
    op.drop_table("edxml_status_events")
    op.drop_table("edxml_documents")
