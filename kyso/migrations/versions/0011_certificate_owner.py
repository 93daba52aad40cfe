"""A client certificate belongs to the user who asked for it (issue 13, item 1).

Requests and certificates record their owner (the user a client-tls certificate logs in as);
login by client certificate uses this binding, never the certificate's common name.

Existing client-tls certificates are bound only where the binding is certain: the request
was filed by the client user whose name the certificate carries. Any other (a client that
asked for someone else's name, or staff filing for a client) stays unbound and no longer
logs in; reissue it with an owner.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("certificate_requests", "certificates"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner_user_id", sa.Integer, nullable=True))
            batch.create_foreign_key(f"fk_{table}_owner_user_id_users", "users", ["owner_user_id"], ["id"])
            batch.create_index(f"ix_{table}_owner_user_id", ["owner_user_id"])
    op.execute(
        "UPDATE certificate_requests SET owner_user_id = ("
        " SELECT users.id FROM users WHERE users.name = certificate_requests.common_name"
        " AND users.name = certificate_requests.requested_by AND users.role = 'client')"
        " WHERE profile = 'client-tls' AND kind = 'new'"
    )
    op.execute(
        "UPDATE certificates SET owner_user_id = ("
        " SELECT certificate_requests.owner_user_id FROM certificate_requests"
        " WHERE certificate_requests.id = certificates.request_id)"
        " WHERE profile = 'client-tls'"
    )


def downgrade() -> None:
    for table in ("certificates", "certificate_requests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_owner_user_id")
            batch.drop_constraint(f"fk_{table}_owner_user_id_users", type_="foreignkey")
            batch.drop_column("owner_user_id")
