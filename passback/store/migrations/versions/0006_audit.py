"""The audit trail, the last-sent values of each ledger item, and refusals that heal.

* ``audit_batch`` (one row per ledger transaction: district, run, time) and ``audit_entry`` (one
  row per write the SIS answered).  An entry's id is ``batch id << 20 | position``: the batch's
  entries are one range of the primary key (retention deletes a range), and no batch column is
  stored per write.
* ``ledger_entry.sent``: the audited field values passback last had acknowledged (JSON list), the
  "before" of the next write and the base of the three-way merge; ``refusals``, ``refused_since``
  and ``retry_at`` (epoch seconds; 0 = not waiting): the per-item retry schedule of a refusal.
* ``closed_grading_period.probed_at``: the last probe write into a period learned closed, and
  ``sis_modified``: the SIS period record's ``dateLastModified`` then (``sync.heal``).
* ``district.audit_retention_days`` (400) and ``district.refusal_retry_max_days`` (7).

Revision ID: 0006_audit
Revises: 0005_guards
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_audit"
down_revision = "0005_guards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_batch",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("district_id", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sqlite_autoincrement=True,  # ids never reused: entries' ids (and their order) derive from them
    )
    op.create_index("ix_audit_batch_district_at", "audit_batch", ["district_id", "at"])
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("assessment_id", sa.String(), nullable=False),
        sa.Column("student_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("sis_status", sa.SmallInteger(), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("kept", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(), nullable=True),
    )
    op.create_index("ix_audit_entry_item", "audit_entry", ["assessment_id", "student_id"])
    with op.batch_alter_table("ledger_entry") as batch:
        batch.add_column(sa.Column("sent", sa.Text(), nullable=True))
        batch.add_column(sa.Column("refusals", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("refused_since", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("retry_at", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("closed_grading_period") as batch:
        batch.add_column(sa.Column("probed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("sis_modified", sa.String(), nullable=True))
    with op.batch_alter_table("district") as batch:
        batch.add_column(sa.Column("audit_retention_days", sa.Integer(), nullable=False, server_default="400"))
        batch.add_column(sa.Column("refusal_retry_max_days", sa.Integer(), nullable=False, server_default="7"))


def downgrade() -> None:
    with op.batch_alter_table("district") as batch:
        batch.drop_column("refusal_retry_max_days")
        batch.drop_column("audit_retention_days")
    with op.batch_alter_table("closed_grading_period") as batch:
        batch.drop_column("sis_modified")
        batch.drop_column("probed_at")
    with op.batch_alter_table("ledger_entry") as batch:
        for column in ("retry_at", "refused_since", "refusals", "sent"):
            batch.drop_column(column)
    op.drop_index("ix_audit_entry_item", "audit_entry")
    op.drop_table("audit_entry")
    op.drop_index("ix_audit_batch_district_at", "audit_batch")
    op.drop_table("audit_batch")
