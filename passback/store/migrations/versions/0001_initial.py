"""The first release's schema.

Revision ID: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "district",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("base_url", sa.String(), nullable=False),
        sa.Column("token_url", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("rate_limit_per_s", sa.Float(), nullable=True),
        sa.Column("grace_hours", sa.Float(), nullable=False),
        sa.Column("deletion_policy", sa.String(), nullable=False),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "category_mapping",
        sa.Column("district_id", sa.String(), sa.ForeignKey("district.id"), primary_key=True),
        sa.Column("otus_type", sa.String(), primary_key=True),
        sa.Column("category_sourced_id", sa.String(), nullable=False),
    )
    op.create_table(
        "ledger_entry",
        sa.Column("district_id", sa.String(), primary_key=True),
        sa.Column("kind", sa.String(), primary_key=True),
        sa.Column("assessment_id", sa.String(), primary_key=True),
        sa.Column("student_id", sa.String(), primary_key=True),
        sa.Column("sourced_id", sa.String(), nullable=False),
        sa.Column("payload_hash", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("sis_code", sa.String(), nullable=True),
        sa.Column("sis_message", sa.Text(), nullable=True),
        sa.Column("grading_period_id", sa.String(), nullable=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "run",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("district_id", sa.String(), nullable=False, index=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("data_docs", sa.String(), nullable=True),
        sa.Column("flow_run_id", sa.String(), nullable=True),
    )
    op.create_table(
        "closed_grading_period",
        sa.Column("district_id", sa.String(), primary_key=True),
        sa.Column("grading_period_id", sa.String(), primary_key=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("noted_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "district_lock",
        sa.Column("district_id", sa.String(), primary_key=True),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("district_lock", "closed_grading_period", "run", "ledger_entry", "category_mapping", "district"):
        op.drop_table(table)
