"""How a refused item heals, in words: "the SIS's message (refused N times since DATE, next try DATE)".

The schedule itself lives with the ledger (``store.ledger.record_acks``: ``refusals``,
``refused_since``, ``retry_at``) and the plan (``domain.plan.diff``: a refused row whose next try
is not due is ``held``).  This module words it for the report's refused list and ``explain``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Engine

from passback.domain.codes import Kind
from passback.domain.plan import NEVER, RETRY_SLACK_S
from passback.store.models import LedgerEntry

_TABLE = LedgerEntry.__table__  # type: ignore[attr-defined]


def next_try(retry_at: int | None) -> str:
    """When a refused item is tried again, in words."""
    if retry_at is None or retry_at <= 0:
        return "when its grading period reopens" if retry_at == 0 else "on the next run"
    if retry_at >= NEVER:
        return "only when it changes in Otus (or a run with --retry-rejected)"
    day = dt.datetime.fromtimestamp(retry_at + RETRY_SLACK_S, dt.UTC).date()
    return f"next try {day.isoformat()}"


def refusal_text(entry: dict[str, Any]) -> str:
    """``entry``: a ledger row (mapping) of a refused item."""
    n = int(entry.get("refusals") or 0)
    since = entry.get("refused_since")
    head = (
        f"refused {n} time{'s' if n != 1 else ''}" + (f" since {str(since)[:10]}" if since else "") if n else "refused"
    )
    retry = entry.get("retry_at")
    message = entry.get("sis_message") or ""
    schedule = f"{head}, {next_try(None if retry is None else int(retry))}"
    return f"{message} ({schedule})" if message else schedule


def annotate(engine: Engine, district_id: str, details: list[dict[str, Any]]) -> None:
    """Word each refused detail (at most a few hundred, the report's list) from its ledger row, in place."""
    wanted = [d for d in details if d.get("outcome") == "rejected"]
    if not wanted:
        return
    keys = {(d["kind"], str(d["assessment_id"]), str(d.get("student_id") or "")) for d in wanted}
    cols = [
        _TABLE.c.kind,
        _TABLE.c.assessment_id,
        _TABLE.c.student_id,
        _TABLE.c.refusals,
        _TABLE.c.refused_since,
        _TABLE.c.retry_at,
        _TABLE.c.sis_message,
        _TABLE.c.status,
    ]
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    with engine.connect() as conn:
        for kind in (Kind.line_item, Kind.result):
            pairs = [(a, s) for k, a, s in keys if k == kind]
            if pairs:
                stmt = select(*cols).where(
                    _TABLE.c.district_id == district_id,
                    _TABLE.c.kind == kind,
                    tuple_(_TABLE.c.assessment_id, _TABLE.c.student_id).in_(pairs),
                )
                rows.update(
                    {(r["kind"], r["assessment_id"], r["student_id"]): dict(r) for r in conn.execute(stmt).mappings()}
                )
    for d in wanted:
        row = rows.get((d["kind"], str(d["assessment_id"]), str(d.get("student_id") or "")))
        if row is not None and row["status"] == "rejected":
            d["message"] = refusal_text(row)
