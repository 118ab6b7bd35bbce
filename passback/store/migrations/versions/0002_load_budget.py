"""Per-district load budget: batch size and an optional cap on writes per run.

Revision ID: 0002_load_budget
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_load_budget"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("district") as batch:
        batch.add_column(sa.Column("batch_size", sa.Integer(), nullable=False, server_default="500"))
        batch.add_column(sa.Column("max_writes_per_run", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("district") as batch:
        batch.drop_column("max_writes_per_run")
        batch.drop_column("batch_size")
