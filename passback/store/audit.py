"""The audit trail: every write the SIS answered, with the audited fields' values before and after.

Written by ``store.ledger.record_acks`` in the SAME transaction as the ledger batch it belongs to
(never an audit row for a write the ledger does not hold, nor the reverse).  Compact by design
(the first night of a large district is millions of writes):

* one ``audit_batch`` row per transaction carries the district, the run (its flow run id is the
  run record's) and the time; an entry's id is ``batch id << 20 | position`` (``batch_of``), so
  a batch is one range of the primary key and no batch column is stored per write;
* an entry holds the audited values as short JSON lists in a fixed field order (``FIELDS``):
  ``after`` (what was sent), ``before`` (what the SIS had acknowledged before; none for a create),
  and ``kept`` (fields of a merged update where the SIS's own value was kept); "changes" are
  derived when read (``changes``).  The sourcedId is derived from the ids (uuid5, ``payloads``);
* an entry refers to its Otus ids by integer: ``audit_name`` holds each assessment and student id
  once (``names``), so a write stores 2 × 4 bytes (and its index entry the same) instead of the ids'
  text — 36 bytes each for UUIDs, twice (row and index).  Names outlive retention (one row per id).

Reconcile's findings (``edited_in_sis``, ``deleted_in_sis``) are entries too, so an item's
history shows them in its timeline (``before`` = what passback sent, ``after`` = what the SIS held).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from passback.store.models import AuditBatch, AuditEntry, AuditName, utcnow

BATCH_SHIFT = 20  # entries per batch < 2**20 (a ledger batch holds at most 10,000)
FIELDS: dict[str, tuple[str, ...]] = {
    "lineItem": ("title", "assign_date", "due_date", "category", "points_possible"),
    "result": ("score", "score_status", "comment"),
}
# the plan frames' column of each audited field
COLUMNS: dict[str, tuple[str, ...]] = {
    "lineItem": ("title", "assign_date", "due_date", "category_id", "result_value_max"),
    "result": ("score", "score_status", "comment"),
}
KIND_CODE = {"lineItem": "L", "result": "R"}
KIND_NAME = {v: k for k, v in KIND_CODE.items()}
ACTION_CODE = {"create": "c", "update": "u", "delete": "d", "edited_in_sis": "e", "deleted_in_sis": "x"}
ACTION_NAME = {v: k for k, v in ACTION_CODE.items()}
_BATCH = AuditBatch.__table__  # type: ignore[attr-defined]
_ENTRY = AuditEntry.__table__  # type: ignore[attr-defined]
_NAME = AuditName.__table__  # type: ignore[attr-defined]
NAME_CHUNK = 1000


def _plain(value: Any) -> Any:
    """A JSON-able scalar: numbers without a needless ``.0``, NA as None, text as text."""
    if value is None or isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None if str(value) in ("<NA>", "NaT", "nan") else str(value)
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def values_of(kind: str, row: Any) -> list[Any]:
    """The audited values of one plan row (a namedtuple or a mapping), in ``FIELDS`` order."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name, None)
    return [_plain(get(col)) for col in COLUMNS[kind]]


def encode(values: Sequence[Any] | None) -> str | None:
    return None if values is None else json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)


def decode(text_value: str | None) -> list[Any] | None:
    return None if text_value is None else json.loads(text_value)


def as_dict(kind: str, values: Sequence[Any] | None) -> dict[str, Any]:
    return dict(zip(FIELDS[kind], values, strict=False)) if values is not None else {}


def changes(kind: str, before: Sequence[Any] | None, after: Sequence[Any] | None) -> dict[str, list[Any]]:
    """{field: [before, after]} for every audited field whose value differs."""
    old, new = as_dict(kind, before), as_dict(kind, after)
    return {f: [old.get(f), new.get(f)] for f in FIELDS[kind] if old.get(f) != new.get(f)}


def batch_of(entry_id: int) -> int:
    return entry_id >> BATCH_SHIFT


@dataclass(frozen=True, slots=True)
class AuditRow:
    kind: str  # lineItem | result
    assessment_id: str
    student_id: str  # "" for a lineItem
    action: str  # create | update | delete | edited_in_sis | deleted_in_sis
    sis_status: int | None = None  # the SIS's HTTP status (None for a reconcile finding)
    before: str | None = None  # encoded values (``encode``)
    after: str | None = None
    kept: str | None = None  # JSON {field: the SIS's value kept by a merged update}
    message: str | None = None  # the SIS's message when it refused
    request_id: str | None = None


def names(conn: Connection, wanted: set[str]) -> dict[str, int]:
    """The ``audit_name`` ids of ``wanted`` (Otus ids; "" too), inserting the new ones — inside the
    caller's transaction, in sorted order (two districts' concurrent batches cannot deadlock)."""
    ordered = sorted(wanted)
    out: dict[str, int] = {}

    def lookup(values: list[str]) -> None:
        for start in range(0, len(values), NAME_CHUNK):
            chunk = values[start : start + NAME_CHUNK]
            out.update(conn.execute(select(_NAME.c.name, _NAME.c.id).where(_NAME.c.name.in_(chunk))).tuples().all())

    lookup(ordered)
    missing = [n for n in ordered if n not in out]
    if missing:
        stmt = (pg_insert(_NAME) if conn.dialect.name == "postgresql" else sqlite_insert(_NAME)).on_conflict_do_nothing(
            index_elements=["name"]
        )
        conn.execute(stmt, [{"name": n} for n in missing])
        lookup(missing)
    return out


def write_batch(
    conn: Connection, district_id: str, run_id: str | None, at: dt.datetime, rows: Sequence[AuditRow]
) -> int:
    """Insert one batch of audit rows on ``conn`` (inside the caller's transaction)."""
    if not rows:
        return 0
    ids = names(conn, {r.assessment_id for r in rows} | {r.student_id for r in rows})
    batch_id = conn.execute(
        insert(_BATCH).values(district_id=district_id, run_id=run_id, at=at).returning(_BATCH.c.id)
    ).scalar_one()
    base = int(batch_id) << BATCH_SHIFT
    conn.execute(
        insert(_ENTRY),
        [
            {
                "id": base + i,
                "assessment": ids[r.assessment_id],
                "student": ids[r.student_id],
                "sis_status": r.sis_status,
                "kind": KIND_CODE[r.kind],
                "action": ACTION_CODE[r.action],
                "before": r.before,
                "after": r.after,
                "kept": r.kept,
                "message": r.message,
                "request_id": r.request_id,
            }
            for i, r in enumerate(rows)
        ],
    )
    return len(rows)


def record(
    engine: Engine, district_id: str, run_id: str | None, rows: Sequence[AuditRow], at: dt.datetime | None = None
) -> int:
    """Audit rows that are not ledger writes (reconcile's findings), in their own transaction."""

    with engine.begin() as conn:
        return write_batch(conn, district_id, run_id, at or utcnow(), rows)


def history(
    engine: Engine, district_id: str, assessment_id: str, student_id: str | None = None
) -> list[dict[str, Any]]:
    """An assessment's timeline (its lineItem and results, or one student's), oldest first."""
    sql = (
        "SELECT e.id, e.kind, na.name AS assessment_id, ns.name AS student_id, e.action, e.sis_status, e.before, "
        "e.after, e.kept, e.message, e.request_id, b.at, b.run_id, r.flow_run_id "
        "FROM audit_name na JOIN audit_entry e ON e.assessment = na.id JOIN audit_name ns ON ns.id = e.student "
        "JOIN audit_batch b ON b.id = e.id / :div LEFT JOIN run r ON r.id = b.run_id "
        "WHERE na.name = :a AND b.district_id = :d"
    )
    params: dict[str, Any] = {"a": assessment_id, "d": district_id, "div": 1 << BATCH_SHIFT}
    if student_id is not None:
        sql += " AND ns.name IN (:s, '')"  # the student's results and the lineItem they belong to
        params["s"] = student_id
    with engine.connect() as conn:
        rows = conn.execute(text(sql + " ORDER BY e.id"), params).mappings().all()
    out = []
    for r in rows:
        kind = KIND_NAME[r["kind"]]
        before, after = decode(r["before"]), decode(r["after"])
        out.append(
            {
                "time": r["at"],
                "run_id": r["run_id"],
                "flow_run_id": r["flow_run_id"],
                "kind": kind,
                "assessment_id": r["assessment_id"],
                "student_id": r["student_id"] or None,
                "action": ACTION_NAME[r["action"]],
                "changes": changes(kind, before, after),
                "kept": json.loads(r["kept"]) if r["kept"] else {},
                "sis_status": r["sis_status"],
                "message": r["message"],
                "request_id": r["request_id"],
            }
        )
    return out


DRIFT_LISTED = 200  # drift findings listed in a run's report (``passback history`` has them all)


def drift_found(engine: Engine, district_id: str, limit: int = DRIFT_LISTED) -> tuple[list[dict[str, Any]], int]:
    """What reconcile found edited or deleted in the SIS and no later write superseded, newest first:
    (up to ``limit`` items, how many there are).  Reconcile's batches are the district's batches
    without a run, so this reads their primary-key ranges only, never the whole trail."""
    sql = (
        "SELECT e.id, e.kind, na.name AS assessment_id, ns.name AS student_id, e.action, e.before, e.after, b.at "
        "FROM audit_batch b JOIN audit_entry e ON e.id >= b.id * :div AND e.id < (b.id + 1) * :div "
        "JOIN audit_name na ON na.id = e.assessment JOIN audit_name ns ON ns.id = e.student "
        "WHERE b.district_id = :d AND b.run_id IS NULL AND e.action IN ('e', 'x') AND NOT EXISTS ("
        "SELECT 1 FROM audit_entry w JOIN audit_batch wb ON wb.id = w.id / :div "
        "WHERE w.assessment = e.assessment AND w.student = e.student AND w.kind = e.kind AND w.id > e.id "
        "AND w.action IN ('c', 'u', 'd') AND wb.district_id = :d) "
        "ORDER BY e.id DESC"
    )
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"d": district_id, "div": 1 << BATCH_SHIFT}).mappings().all()
    out = []
    for r in rows[:limit]:
        kind = KIND_NAME[r["kind"]]
        out.append(
            {
                "time": r["at"],
                "kind": kind,
                "assessment_id": r["assessment_id"],
                "student_id": r["student_id"] or None,
                "action": ACTION_NAME[r["action"]],
                "changes": changes(kind, decode(r["before"]), decode(r["after"])),
            }
        )
    return out, len(rows)


def latest(
    engine: Engine, district_id: str, kind: str, assessment_id: str, student_id: str = ""
) -> dict[str, Any] | None:
    """The newest audit row of one item (None when it has none)."""
    rows = [
        r
        for r in history(engine, district_id, assessment_id, student_id or None)
        if r["kind"] == kind and (r["student_id"] or "") == student_id
    ]
    return rows[-1] if rows else None


PRUNE_CHUNK = 500


def prune(engine: Engine, district_id: str, *, older_than_days: int, now: dt.datetime | None = None) -> int:
    """Delete the district's audit rows older than ``older_than_days``; returns how many entries went.
    Each batch is one primary-key range: no scan of the entries, whatever their number."""

    cutoff = (now or utcnow()) - dt.timedelta(days=older_than_days)
    with engine.connect() as conn:
        ids = [
            int(i)
            for i in conn.execute(
                select(_BATCH.c.id)
                .where(_BATCH.c.district_id == district_id, _BATCH.c.at < cutoff)
                .order_by(_BATCH.c.id)
            ).scalars()
        ]
    removed = 0
    span = 1 << BATCH_SHIFT
    for start in range(0, len(ids), PRUNE_CHUNK):
        chunk = ids[start : start + PRUNE_CHUNK]
        with engine.begin() as conn:
            for batch_id in chunk:
                lo = batch_id << BATCH_SHIFT
                removed += conn.execute(delete(_ENTRY).where(_ENTRY.c.id >= lo, _ENTRY.c.id < lo + span)).rowcount or 0
            conn.execute(delete(_BATCH).where(_BATCH.c.id.in_(chunk)))
    return removed
