"""SIS drift, the read-back half of ``passback reconcile`` (``sync.reconcile``): both collections read
sorted by sourcedId, page by page, compared range by range with the objects passback owns there.

passback's sourcedIds are uuid5s, so the 16 ranges of their first hex digit split the owned objects
evenly: one range's owned objects (open grading periods, from the ledger) are in memory at a time.
After each range the progress is saved (``store.reconcile_cursor``) and an interrupted read-back
resumes at that range, re-reading at most one page before it (objects the SIS deleted meanwhile
shift offsets down); an object before the range is skipped.  An SIS that ignores
``sort=sourcedId`` is detected (an owned-shaped sourcedId out of order): the read stops with a
message rather than report wrong drift.
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
from sqlalchemy import text

from passback.domain.codes import Kind
from passback.store import audit
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


@dataclass
class Owned:
    """The owned objects of one sourcedId range: an index for the page lookups, plain lists for the
    per-match reads (a pandas row per object costs ~50 µs; a list item, nothing)."""

    index: pd.Index
    assessment_id: list[str]
    student_id: list[str]
    sent: list[str | None]

    def __len__(self) -> int:
        return len(self.index)


def owned(engine: Any, district_id: str, kind: str, closed_periods: Any, lo: str, hi: str) -> Owned:
    """The objects of ``kind`` passback owns in open grading periods with a sourcedId in [lo, hi)
    (one range at a time: memory is a sixteenth of the district's ledger)."""
    sql = (
        "SELECT sourced_id, assessment_id, student_id, grading_period_id, sent FROM ledger_entry "
        "WHERE district_id = :d AND kind = :k AND status = 'acked' AND sourced_id >= :lo AND sourced_id < :hi"
    )
    closed = set(closed_periods)
    with engine.connect() as conn:
        rows = [
            r
            for r in conn.execute(text(sql), {"d": district_id, "k": str(kind), "lo": lo, "hi": hi}).tuples()
            if r[3] not in closed
        ]
    return Owned(
        pd.Index([r[0] for r in rows], dtype=object),
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[4] for r in rows],
    )


def _finding(kind: str, mine: Owned, p: int) -> dict[str, Any]:
    return {
        "kind": str(kind),
        "sourced_id": str(mine.index[p]),
        "assessment_id": mine.assessment_id[p],
        "student_id": (mine.student_id[p] or None) if kind == Kind.result else None,
    }


def _compare(drift: Drift, kind: str, mine: Owned, seen: np.ndarray, objects: list[dict[str, Any]]) -> None:
    """One page of SIS objects against the owned range: edits and ``tobedeleted`` into ``drift``."""
    if not objects or not len(mine):
        return
    pos = mine.index.get_indexer([o.get("sourcedId") for o in objects])
    for i in np.flatnonzero(pos >= 0):  # the others are not passback's: never reported
        obj, p = objects[i], int(pos[i])
        seen[p] = True
        if str(obj.get("status") or "active").lower() == "tobedeleted":
            drift.deleted_in_sis.append(_finding(kind, mine, p))
            continue
        last = mine.sent[p]
        sent = audit.as_dict(kind, json.loads(last)) if last else {}
        held = sis_fields(kind, obj)
        for name in COMPARED[kind]:  # type: ignore[index]
            if name in sent and _number(sent[name]) != _number(held[name]):
                drift.edited_in_sis.append(
                    {**_finding(kind, mine, p), "field": name, "sent": sent[name], "sis": held[name]}
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


def _close(drift: Drift, kind: str, mine: Owned, seen: np.ndarray) -> None:
    """A range read to its end: its owned objects are checked; those the listing lacked are gone (404)."""
    drift.checked += len(mine)
    for p in np.flatnonzero(~seen):
        drift.deleted_in_sis.append(_finding(kind, mine, int(p)))


def _hi(r: int) -> str:
    return RANGES[r + 1] if r + 1 < len(RANGES) else "g"  # past "f": every hex sourcedId is below it
