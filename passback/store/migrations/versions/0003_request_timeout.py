"""Per-district request timeout (seconds; the connect timeout is the smaller of it and 5 s).

Revision ID: 0003_request_timeout
Revises: 0002_load_budget
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_request_timeout"
down_revision = "0002_load_budget"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("district") as batch:
        batch.add_column(sa.Column("request_timeout_s", sa.Float(), nullable=False, server_default="30"))


def downgrade() -> None:
    with op.batch_alter_table("district") as batch:
        batch.drop_column("request_timeout_s")
