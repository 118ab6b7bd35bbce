"""Per-district opt-in to plain http towards a host that is not loopback (``--allow-http``).

Revision ID: 0004_district_safety
Revises: 0003_request_timeout
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_district_safety"
down_revision = "0003_request_timeout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("district") as batch:
        batch.add_column(sa.Column("allow_http", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("district") as batch:
        batch.drop_column("allow_http")
