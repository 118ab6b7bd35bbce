"""Guards: per-district limits, the last score sent per result, and held plans awaiting a person.

Revision ID: 0005_guards
Revises: 0004_district_safety
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_guards"
down_revision = "0004_district_safety"
branch_labels = None
depends_on = None

LIMITS = ("guard_new_zeros", "guard_changed_scores", "guard_lowered_scores", "guard_changed_line_items", "guard_writes")


def upgrade() -> None:
    with op.batch_alter_table("district") as batch:
        batch.add_column(sa.Column("guards_enabled", sa.Boolean(), nullable=False, server_default=sa.true()))
        for name in LIMITS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch.add_column(sa.Column("guard_zero_share", sa.Float(), nullable=True))
        batch.add_column(sa.Column("guard_factor", sa.Float(), nullable=True))
        batch.add_column(sa.Column("guard_timeout_h", sa.Float(), nullable=False, server_default="12"))
    with op.batch_alter_table("ledger_entry") as batch:
        batch.add_column(sa.Column("sent_score", sa.Float(), nullable=True))
    op.create_table(
        "guard_hold",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("district_id", sa.String(), nullable=False, index=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("flow_run_id", sa.String(), nullable=True),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("writes", sa.Integer(), nullable=False),
        sa.Column("guards", sa.Text(), nullable=False),
        sa.Column("write_keys", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("applied_run_id", sa.String(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("guard_hold")
    with op.batch_alter_table("ledger_entry") as batch:
        batch.drop_column("sent_score")
    with op.batch_alter_table("district") as batch:
        for name in ("guard_timeout_h", "guard_factor", "guard_zero_share", *reversed(LIMITS), "guards_enabled"):
            batch.drop_column(name)
