"""A compact audit trail (≤ 250 bytes per write on PostgreSQL with UUID ids).

* ``audit_name``: each Otus id the audit mentions (assessment and student ids; "" for "no student"),
  once; ``audit_entry`` refers to them by integer (``assessment``, ``student``) instead of holding
  the ids' text in every row and again in ``ix_audit_entry_item``.  Existing entries are converted
  (ids, order and values kept); the downgrade converts back.
* ``reconcile_cursor``: where an interrupted ``passback reconcile`` resumes (one row per district).

Revision ID: 0007_audit_compact
Revises: 0006_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_audit_compact"
down_revision = "0006_audit"
branch_labels = None
depends_on = None


def _tail_columns() -> list[sa.Column]:
    return [
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("kept", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "audit_name",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(), nullable=False, unique=True),
    )
    op.execute(
        "INSERT INTO audit_name (name) SELECT assessment_id FROM audit_entry "
        "UNION SELECT student_id FROM audit_entry ORDER BY 1"
    )
    # fixed-width columns first (no alignment padding on PostgreSQL), the variable ones last
    op.create_table(
        "audit_entry_compact",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("assessment", sa.Integer(), nullable=False),
        sa.Column("student", sa.Integer(), nullable=False),
        sa.Column("sis_status", sa.SmallInteger(), nullable=True),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        *_tail_columns(),
    )
    op.execute(
        "INSERT INTO audit_entry_compact (id, assessment, student, sis_status, kind, action, "
        "before, after, kept, message, request_id) SELECT e.id, na.id, ns.id, e.sis_status, e.kind, e.action, "
        "e.before, e.after, e.kept, e.message, e.request_id "
        "FROM audit_entry e JOIN audit_name na ON na.name = e.assessment_id "
        "JOIN audit_name ns ON ns.name = e.student_id"
    )
    op.drop_index("ix_audit_entry_item", "audit_entry")
    op.drop_table("audit_entry")
    op.rename_table("audit_entry_compact", "audit_entry")
    op.create_index("ix_audit_entry_item", "audit_entry", ["assessment", "student"])
    op.create_table(
        "reconcile_cursor",
        sa.Column("district_id", sa.String(), primary_key=True),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("range", sa.Integer(), nullable=False),
        sa.Column("sis_offset", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reconcile_cursor")
    op.create_table(
        "audit_entry_text",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("assessment_id", sa.String(), nullable=False),
        sa.Column("student_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("sis_status", sa.SmallInteger(), nullable=True),
        *_tail_columns(),
    )
    op.execute(
        "INSERT INTO audit_entry_text (id, kind, assessment_id, student_id, action, sis_status, "
        "before, after, kept, message, request_id) SELECT e.id, e.kind, na.name, ns.name, e.action, e.sis_status, "
        "e.before, e.after, e.kept, e.message, e.request_id "
        "FROM audit_entry e JOIN audit_name na ON na.id = e.assessment JOIN audit_name ns ON ns.id = e.student"
    )
    op.drop_index("ix_audit_entry_item", "audit_entry")
    op.drop_table("audit_entry")
    op.rename_table("audit_entry_text", "audit_entry")
    op.create_index("ix_audit_entry_item", "audit_entry", ["assessment_id", "student_id"])
    op.drop_table("audit_name")
