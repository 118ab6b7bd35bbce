"""SIS drift: read back what passback owns in the SIS and compare it with what passback last sent.

``reconcile`` reads the lineItems and results collections over OneRoster (the district's client:
its credentials, its rate gate; pages of ``PAGE_SIZE``, a page budget and a time budget) and
compares the objects passback owns — the ledger's acknowledged sourcedIds in grading periods that
are open — with the values passback last had acknowledged (``ledger_entry.sent``):

* ``edited_in_sis``: the SIS holds another score or score status (results), title, dates or
  category (lineItems) — one finding per field;
* ``deleted_in_sis``: absent from the complete listing (404) or marked ``tobedeleted``;
* ``checked``: how many owned objects were compared.

Objects passback never wrote are never reported.  Reconcile changes nothing in the SIS; its
findings go to the audit trail (``passback history`` shows them).  ``restore``: the deleted items
are forgotten by the ledger (with their audit rows, one transaction) and a normal sync re-creates
them through the district's stage sequence (lock, guards, ledger and audit) — teacher edits are
never overwritten by reconcile.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, text, tuple_

from passback.domain.codes import Kind
from passback.store import audit
from passback.store import ledger as store_ledger
from passback.store import reconcile_cursor as cursor

PAGE_SIZE = 1000
MAX_PAGES = 100_000  # 100M objects: far above any district; the SIS's paging cannot run away
TIME_BUDGET_S = 6 * 3600.0  # the whole read-back ends within this, whatever the SIS does
COMPARED = {Kind.line_item: ("title", "assign_date", "due_date", "category"), Kind.result: ("score", "score_status")}
COLLECTION = {Kind.line_item: "lineItems", Kind.result: "results"}


@dataclass
class Drift:
    edited_in_sis: list[dict[str, Any]] = field(default_factory=list)
    deleted_in_sis: list[dict[str, Any]] = field(default_factory=list)
    checked: int = 0
    restored: int | None = None  # --restore: objects the follow-up sync re-created

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "edited_in_sis": self.edited_in_sis,
            "deleted_in_sis": self.deleted_in_sis,
            "checked": self.checked,
        }
        if self.restored is not None:
            out["restored"] = self.restored
        return out


def _number(value: Any) -> Any:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if math.isfinite(number) and number.is_integer() else number


def sis_fields(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The compared fields of one SIS object (raw OneRoster JSON)."""
    if kind == Kind.line_item:
        category = obj.get("category") or {}
        return {
            "title": obj.get("title"),
            "assign_date": (obj.get("assignDate") or "")[:10] or None,
            "due_date": (obj.get("dueDate") or "")[:10] or None,
            "category": category.get("sourcedId") if isinstance(category, dict) else None,
        }
    return {"score": _number(obj.get("score")), "score_status": obj.get("scoreStatus")}


RANGES = "0123456789abcdef"  # passback's sourcedIds are uuid5s: 16 ranges by their first hex digit
_OURS = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)  # uuid5 as passback spells it
RESUME_WITHIN = dt.timedelta(days=1)  # an older cursor is stale: a reconcile starts over


class ReconcileInterrupted(RuntimeError):
    """The read-back stopped before the end (a page budget, the SIS failing): its progress is saved,
    the next ``reconcile`` of the district resumes there."""


def owned(engine: Any, district_id: str, kind: str, closed_periods: Any, lo: str, hi: str) -> pd.DataFrame:
    """The objects of ``kind`` passback owns in open grading periods with a sourcedId in [lo, hi),
    indexed by sourcedId (one range at a time: memory is a sixteenth of the district's ledger)."""
    sql = (
        "SELECT sourced_id, assessment_id, student_id, grading_period_id, sent FROM ledger_entry "
        "WHERE district_id = :d AND kind = :k AND status = 'acked' AND sourced_id >= :lo AND sourced_id < :hi"
    )
    params = {"d": district_id, "k": str(kind), "lo": lo, "hi": hi}
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(text(sql), params).tuples().all(), columns=_OWNED)
    keep = ~frame["grading_period_id"].isin(list(closed_periods)).to_numpy()
    return frame[keep].set_index("sourced_id")


_OWNED = ["sourced_id", "assessment_id", "student_id", "grading_period_id", "sent"]


def _finding(kind: str, sid: str, row: Any) -> dict[str, Any]:
    return {
        "kind": str(kind),
        "sourced_id": sid,
        "assessment_id": row.assessment_id,
        "student_id": (row.student_id or None) if kind == Kind.result else None,
    }


def _compare(drift: Drift, kind: str, mine: pd.DataFrame, seen: np.ndarray, objects: list[dict[str, Any]]) -> None:
    """One page of SIS objects against the owned range: edits and ``tobedeleted`` into ``drift``."""
    pos = mine.index.get_indexer([o.get("sourcedId") for o in objects])
    for obj, p in zip(objects, pos, strict=True):
        if p < 0:
            continue  # not passback's: never reported
        seen[p] = True
        row = mine.iloc[p]
        sid = str(mine.index[p])
        if str(obj.get("status") or "active").lower() == "tobedeleted":
            drift.deleted_in_sis.append(_finding(kind, sid, row))
            continue
        sent = audit.as_dict(kind, json.loads(row.sent)) if row.sent else {}
        held = sis_fields(kind, obj)
        for name in COMPARED[kind]:  # type: ignore[index]
            if name in sent and _number(sent[name]) != _number(held[name]):
                drift.edited_in_sis.append(
                    {**_finding(kind, sid, row), "field": name, "sent": sent[name], "sis": held[name]}
                )


@dataclass
class Progress:
    """Where a reconcile is: the kind and sourcedId range to read next, the SIS offset where that
    range's listing starts, the findings so far (``store.reconcile_cursor``)."""

    kind: int = 0  # index in KINDS
    range: int = 0  # index in RANGES
    offset: int = 0
    drift: Drift = field(default_factory=Drift)


KINDS = (Kind.line_item, Kind.result)


async def read_drift(
    engine: Any,
    district_id: str,
    client: Any,
    closed_periods: Any,
    *,
    page_size: int = PAGE_SIZE,
    page_budget: int | None = None,
) -> Drift:
    """Read back both collections (sorted by sourcedId, page by page) range by range against the
    owned objects of that range; after each range the progress is saved (``store.reconcile_cursor``),
    so an interrupted reconcile resumes at the range it was in.  ``page_budget``: stop (and save)
    after that many pages — ``ReconcileInterrupted``."""
    progress = cursor.load(engine, district_id, within=RESUME_WITHIN) or Progress()
    pages = 0
    for k in range(progress.kind, len(KINDS)):
        kind = KINDS[k]
        r = progress.range if k == progress.kind else 0
        start = progress.offset if k == progress.kind else 0
        position = max(start - page_size, 0)  # a margin: objects the SIS deleted since shift offsets down
        last = ""
        mine = owned(engine, district_id, kind, closed_periods, RANGES[r], _hi(r))
        seen = np.zeros(len(mine), dtype=bool)
        page: list[dict[str, Any]] = []

        async with client.time_budget(TIME_BUDGET_S, f"the reconcile read of {COLLECTION[kind]}"):
            stream = client.iter_collection(
                COLLECTION[kind],
                params={"sort": "sourcedId"},
                page_size=page_size,
                max_pages=MAX_PAGES,
                offset=position,
            )
            async for obj in stream:
                position += 1
                if position % page_size == 0:
                    pages += 1
                sid = str(obj.get("sourcedId") or "")
                if not _OURS.fullmatch(sid):
                    continue  # never passback's (its sourcedIds are uuid5s)
                if sid < last:
                    raise ReconcileInterrupted(
                        f"district {district_id}: the SIS does not list {COLLECTION[kind]} in sourcedId order "
                        f"(sort=sourcedId ignored: {sid} after {last}) — reconcile reads them range by range "
                        "and cannot compare; report this SIS behaviour to the vendor"
                    )
                last = sid
                if sid < RANGES[r]:
                    continue  # before the range being read: done in an earlier run
                while r < len(RANGES) - 1 and sid >= RANGES[r + 1]:
                    _compare(progress.drift, kind, mine, seen, page)
                    page = []
                    _close(progress.drift, kind, mine, seen)
                    r += 1
                    mine = owned(engine, district_id, kind, closed_periods, RANGES[r], _hi(r))
                    seen = np.zeros(len(mine), dtype=bool)
                    progress.kind, progress.range, progress.offset = k, r, position - 1
                    cursor.save(engine, district_id, progress)
                    if page_budget is not None and pages >= page_budget:
                        await stream.aclose()
                        raise ReconcileInterrupted(
                            f"district {district_id}: the reconcile stopped after its budget of {page_budget} "
                            f"page(s), in {COLLECTION[kind]} (range {RANGES[r]}); the next reconcile resumes there"
                        )
                page.append(obj)
                if len(page) >= page_size:
                    _compare(progress.drift, kind, mine, seen, page)
                    page = []
            _compare(progress.drift, kind, mine, seen, page)
        _close(progress.drift, kind, mine, seen)
        for later in range(r + 1, len(RANGES)):  # ranges the listing never reached: all gone
            rest = owned(engine, district_id, kind, closed_periods, RANGES[later], _hi(later))
            _close(progress.drift, kind, rest, np.zeros(len(rest), dtype=bool))
        progress.kind, progress.range, progress.offset = k + 1, 0, 0
        cursor.save(engine, district_id, progress)
    return progress.drift


def _close(drift: Drift, kind: str, mine: pd.DataFrame, seen: np.ndarray) -> None:
    """A range read to its end: its owned objects are checked; those the listing lacked are gone (404)."""
    drift.checked += len(mine)
    for p in np.flatnonzero(~seen):
        drift.deleted_in_sis.append(_finding(kind, str(mine.index[p]), mine.iloc[p]))


def _hi(r: int) -> str:
    return RANGES[r + 1] if r + 1 < len(RANGES) else "g"  # past "f": every hex sourcedId is below it


def record_findings(engine: Any, district_id: str, drift: Drift, *, forget_deleted: bool) -> None:
    """The findings as audit rows (``history`` shows them); with ``forget_deleted`` the ledger forgets
    the deleted items in the same transaction, so the next sync re-creates them."""
    rows = [
        audit.AuditRow(
            kind=f["kind"],
            assessment_id=f["assessment_id"],
            student_id=f["student_id"] or "",
            action="edited_in_sis",
            before=audit.encode(_values(f["kind"], {f["field"]: f["sent"]})),
            after=audit.encode(_values(f["kind"], {f["field"]: f["sis"]})),
        )
        for f in drift.edited_in_sis
    ]
    rows += [
        audit.AuditRow(
            kind=f["kind"], assessment_id=f["assessment_id"], student_id=f["student_id"] or "", action="deleted_in_sis"
        )
        for f in drift.deleted_in_sis
    ]
    rows = _new(engine, district_id, rows)
    if not rows and not (forget_deleted and drift.deleted_in_sis):
        return
    table = store_ledger.TABLE
    with engine.begin() as conn:
        if forget_deleted:
            for kind in (Kind.line_item, Kind.result):
                keys = [(f["assessment_id"], f["student_id"] or "") for f in drift.deleted_in_sis if f["kind"] == kind]
                for start in range(0, len(keys), 1000):
                    conn.execute(
                        delete(table).where(
                            table.c.district_id == district_id,
                            table.c.kind == kind,
                            tuple_(table.c.assessment_id, table.c.student_id).in_(keys[start : start + 1000]),
                        )
                    )
        audit.write_batch(conn, district_id, None, audit.utcnow(), rows)


def _values(kind: str, one: dict[str, Any]) -> list[Any]:
    """A full audited-values list with only ``one``'s fields set (a finding's before/after)."""
    return [one.get(name) for name in audit.FIELDS[kind]]


class RestoreNotDone(RuntimeError):
    """``--restore``'s sync did not complete (failed, or ``held`` by the district's guards): its message says what next."""

    def __init__(self, message: str, *, held: bool = False) -> None:
        super().__init__(message)
        self.held = held


async def reconcile(
    district_id: str,
    *,
    restore: bool = False,
    options: Any = None,
    steps: Any = None,
    page_size: int = PAGE_SIZE,
    page_budget: int | None = None,
) -> Drift:
    """Read back and compare (``read_drift``: resumes an interrupted one), record the findings;
    ``restore``: re-send what was deleted in the SIS by a normal sync (``steps``: how its stages run
    — the flow passes its own)."""
    from passback.sync.district import DistrictRun, RunOptions
    from passback.sync.sequence import run_district

    options = options or RunOptions(build_docs=False)
    run = DistrictRun(district_id, options)
    async with run.client() as client:
        sis = await run.preflight(client)
        closed = run.period_check(sis).closed | sis.closed_periods
        drift = await read_drift(
            run.engine, run.district.id, client, closed, page_size=page_size, page_budget=page_budget
        )
    record_findings(run.engine, run.district.id, drift, forget_deleted=restore)
    cursor.clear(run.engine, run.district.id)
    if restore and drift.deleted_in_sis:
        summary = await run_district(run.district.id, options, steps)
        if summary.status == "held":  # the guard stage of that sync: a person decides (nothing was re-sent)
            hold = summary.hold or {}
            raise RestoreNotDone(
                f"district {run.district.id}: the restore sync was held by its guards "
                f"({hold.get('why') or 'a guard tripped'}) — nothing re-sent; approve with "
                f"`{hold.get('command') or 'passback approve ' + run.district.id}`, then the next sync "
                "re-creates them (the ledger has forgotten them)",
                held=True,
            )
        if summary.status not in ("completed",):
            raise RestoreNotDone(
                f"district {run.district.id}: the restore sync ended {summary.status}: {summary.error or ''}"
                " — the deleted items are forgotten by the ledger, so the next nightly run re-creates them"
            )
        drift.restored = int(summary.writes)
    return drift


def _new(engine: Any, district_id: str, rows: list[audit.AuditRow]) -> list[audit.AuditRow]:
    """The findings not already the item's latest audit row (a weekly reconcile does not repeat itself)."""
    if not rows:
        return rows
    latest: dict[tuple[str, str, str], tuple[str, str | None, str | None]] = {}
    for aid in sorted({r.assessment_id for r in rows}):
        for e in audit.history(engine, district_id, aid):
            latest[(e["kind"], aid, e["student_id"] or "")] = (e["action"], json.dumps(e["changes"]), None)
    fresh = []
    for r in rows:
        changes = json.dumps(audit.changes(r.kind, audit.decode(r.before), audit.decode(r.after)))
        if latest.get((r.kind, r.assessment_id, r.student_id)) != (r.action, changes, None):
            fresh.append(r)
    return fresh
