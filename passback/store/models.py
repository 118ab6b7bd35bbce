"""The state DB's tables (SQLModel).  Secrets are stored encrypted (see ``secrets``)."""

from __future__ import annotations

import datetime as dt

from pydantic import NaiveDatetime
from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class District(SQLModel, table=True):
    __tablename__ = "district"

    id: str = Field(primary_key=True)
    name: str
    base_url: str
    token_url: str
    client_id: str
    secret_ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    timezone: str = "America/Chicago"
    effective_date: dt.date
    enabled: bool = True
    concurrency: int = 4
    rate_limit_per_s: float | None = None
    grace_hours: float = 0.0
    deletion_policy: str = "keep"
    verify_tls: bool = True
    allow_http: bool = False  # plain http to a host that is not loopback (opt-in; warned on every run)
    batch_size: int = 500
    max_writes_per_run: int | None = None
    request_timeout_s: float = 30.0
    # guards (passback.guards): None = the documented default
    guards_enabled: bool = True
    guard_new_zeros: int | None = None
    guard_changed_scores: int | None = None
    guard_lowered_scores: int | None = None
    guard_changed_line_items: int | None = None
    guard_writes: int | None = None
    guard_zero_share: float | None = None
    guard_factor: float | None = None
    guard_timeout_h: float = 12.0
    audit_retention_days: int = 400  # audit rows older than this are pruned by the district's runs
    refusal_retry_max_days: int = 7  # a refused item is retried after 1, 2, 4 ... nights, at most this many
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime = Field(default_factory=utcnow)

    def __repr__(self) -> str:  # never the ciphertext
        return f"District(id={self.id!r}, name={self.name!r}, base_url={self.base_url!r}, enabled={self.enabled})"

    __str__ = __repr__


class CategoryMapping(SQLModel, table=True):
    __tablename__ = "category_mapping"

    district_id: str = Field(primary_key=True, foreign_key="district.id")
    otus_type: str = Field(primary_key=True)
    category_sourced_id: str


class LedgerEntry(SQLModel, table=True):
    """What the SIS acknowledged (or rejected) for one lineItem or result, and the payload hash it applied to."""

    __tablename__ = "ledger_entry"

    district_id: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)  # lineItem | result
    assessment_id: str = Field(primary_key=True)
    student_id: str = Field(primary_key=True, default="")  # "" for lineItems
    sourced_id: str
    payload_hash: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str  # acked | rejected
    http_status: int | None = None
    sis_code: str | None = None
    sis_message: str | None = Field(default=None, sa_column=Column(Text))
    grading_period_id: str | None = None
    run_id: str | None = None
    updated_at: NaiveDatetime = Field(default_factory=utcnow)
    sent_score: float | None = None  # results: the score the SIS acknowledged (guards: scores that go down)
    sent: str | None = Field(default=None, sa_column=Column(Text))  # audited values last acknowledged (JSON list)
    refusals: int = 0  # refusals in a row since the last acknowledgement
    refused_since: NaiveDatetime | None = None
    retry_at: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))  # epoch s


class AuditBatch(SQLModel, table=True):
    """One ledger transaction's writes (or one reconcile's findings): where and when."""

    __tablename__ = "audit_batch"
    __table_args__ = (Index("ix_audit_batch_district_at", "district_id", "at"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    district_id: str
    run_id: str | None = None
    at: NaiveDatetime = Field(default_factory=utcnow)


class AuditName(SQLModel, table=True):
    """The audit's dictionary of Otus ids (assessment and student ids, each stored once): an entry
    refers to them by integer (``store.audit``), so a write costs no id text (UUIDs are 36 bytes)."""

    __tablename__ = "audit_name"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String, nullable=False, unique=True))


class AuditEntry(SQLModel, table=True):
    """One write the SIS answered: ``id`` is ``batch id << 20 | position`` (see ``store.audit``);
    ``assessment`` and ``student`` are ``audit_name`` ids (the student's is that of "" for a lineItem)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_item", "assessment", "student"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    assessment: int = Field(sa_column=Column(Integer, nullable=False))
    student: int = Field(sa_column=Column(Integer, nullable=False))
    sis_status: int | None = Field(default=None, sa_column=Column(SmallInteger))
    kind: str = Field(sa_column=Column(String(1), nullable=False))  # L lineItem, R result
    action: str = Field(sa_column=Column(String(1), nullable=False))  # c create, u update, d delete, e/x drift
    before: str | None = Field(default=None, sa_column=Column(Text))
    after: str | None = Field(default=None, sa_column=Column(Text))
    kept: str | None = Field(default=None, sa_column=Column(Text))
    message: str | None = Field(default=None, sa_column=Column(Text))
    request_id: str | None = None


class ReconcileCursor(SQLModel, table=True):
    """An interrupted reconcile's progress (``store.reconcile_cursor``): one row per district."""

    __tablename__ = "reconcile_cursor"

    district_id: str = Field(primary_key=True)
    kind: int = 0  # index in sync.readback.KINDS: the collection to read next
    range: int = 0  # index in sync.readback.RANGES: the sourcedId range to read next
    sis_offset: int = 0  # where that range's listing starts in the SIS's sorted collection
    findings: str = Field(sa_column=Column(Text, nullable=False))  # the Drift so far, as JSON
    updated_at: NaiveDatetime = Field(default_factory=utcnow)


class Run(SQLModel, table=True):
    __tablename__ = "run"

    id: str = Field(primary_key=True)
    district_id: str = Field(index=True)
    kind: str  # sync | dry_run | backfill
    started_at: NaiveDatetime = Field(default_factory=utcnow)
    finished_at: NaiveDatetime | None = None
    status: str = "running"  # running | completed | partial | planned | failed
    counts: str | None = Field(default=None, sa_column=Column(Text))  # the summary as JSON
    error: str | None = Field(default=None, sa_column=Column(Text))
    data_docs: str | None = None
    flow_run_id: str | None = None


class ClosedGradingPeriod(SQLModel, table=True):
    __tablename__ = "closed_grading_period"

    district_id: str = Field(primary_key=True)
    grading_period_id: str = Field(primary_key=True)
    source: str  # config | sis
    message: str | None = Field(default=None, sa_column=Column(Text))
    noted_at: NaiveDatetime = Field(default_factory=utcnow)
    probed_at: NaiveDatetime | None = None  # the last probe write into it (learned closed: re-checked weekly)
    sis_modified: str | None = None  # the SIS period record's dateLastModified when the closure was learned


class DistrictLock(SQLModel, table=True):
    __tablename__ = "district_lock"

    district_id: str = Field(primary_key=True)
    owner: str
    pid: int
    host: str
    acquired_at: NaiveDatetime = Field(default_factory=utcnow)
    heartbeat_at: NaiveDatetime = Field(default_factory=utcnow)


class GuardHold(SQLModel, table=True):
    """A plan that tripped a guard and waits for a person: approved, it may be written."""

    __tablename__ = "guard_hold"

    id: str = Field(primary_key=True)
    district_id: str = Field(index=True)
    run_id: str | None = None
    flow_run_id: str | None = None
    digest: str  # sha256 of the plan's writes (each item and its payload hash)
    writes: int
    guards: str = Field(sa_column=Column(Text, nullable=False))  # the tripped guards as JSON
    write_keys: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # the writes shown (passback.guards.keys)
    status: str = "held"  # held | paused | approved | rejected | applied | superseded
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    decided_by: str | None = None
    decided_at: NaiveDatetime | None = None
    note: str | None = Field(default=None, sa_column=Column(Text))
    applied_run_id: str | None = None
