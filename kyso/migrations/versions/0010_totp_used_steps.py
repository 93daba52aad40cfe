"""TOTP steps used, as a set: accepting the next step's code no longer uses up the current
one (issue 13, item 25).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_consents") as batch:
        batch.add_column(sa.Column("used_totp_steps", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signing_consents") as batch:
        batch.drop_column("used_totp_steps")
