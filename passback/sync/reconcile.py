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

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, tuple_

from passback.domain.codes import Kind
from passback.store import audit
from passback.store import ledger as store_ledger

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


def owned(engine: Any, district_id: str, kind: str, closed_periods: set[str] | frozenset[str]) -> pd.DataFrame:
    """The objects of ``kind`` passback owns in open grading periods, indexed by sourcedId."""
    frame = store_ledger.read_ledger(
        engine,
        district_id,
        kind,
        columns=["assessment_id", "student_id", "sourced_id", "status", "grading_period_id", "sent"],
    )
    keep = (frame["status"] == "acked").to_numpy() & ~frame["grading_period_id"].isin(list(closed_periods)).to_numpy()
    return frame[keep].set_index("sourced_id")


def _finding(kind: str, sid: str, row: Any) -> dict[str, Any]:
    return {
        "kind": str(kind),
        "sourced_id": sid,
        "assessment_id": row.assessment_id,
        "student_id": (row.student_id or None) if kind == Kind.result else None,
    }


async def read_drift(engine: Any, district_id: str, client: Any, closed_periods: set[str] | frozenset[str]) -> Drift:
    drift = Drift()
    for kind in (Kind.line_item, Kind.result):
        mine = owned(engine, district_id, kind, closed_periods)
        if mine.empty:
            continue
        seen = np.zeros(len(mine), dtype=bool)
        index = mine.index
        page: list[dict[str, Any]] = []

        def compare(
            objects: list[dict[str, Any]],
            kind: str = kind,
            mine: pd.DataFrame = mine,
            index: pd.Index = index,
            seen: np.ndarray = seen,
        ) -> None:
            pos = index.get_indexer([o.get("sourcedId") for o in objects])
            for obj, p in zip(objects, pos, strict=True):
                if p < 0:
                    continue  # not passback's: never reported
                seen[p] = True
                row = mine.iloc[p]
                sid = str(index[p])
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

        async with client.time_budget(TIME_BUDGET_S, f"the reconcile read of {COLLECTION[kind]}"):
            async for obj in client.iter_collection(COLLECTION[kind], page_size=PAGE_SIZE, max_pages=MAX_PAGES):
                page.append(obj)
                if len(page) >= PAGE_SIZE:
                    compare(page)
                    page = []
            compare(page)
        drift.checked += int(seen.sum())
        for p in np.flatnonzero(~seen):  # absent from the complete listing: gone (404)
            drift.deleted_in_sis.append(_finding(kind, str(index[p]), mine.iloc[p]))
        drift.checked += int((~seen).sum())
    return drift


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


async def reconcile(district_id: str, *, restore: bool = False, options: Any = None, steps: Any = None) -> Drift:
    """Read back and compare (``read_drift``), record the findings; ``restore``: re-send what was
    deleted in the SIS by a normal sync (``steps``: how its stages run — the flow passes its own)."""
    from passback.sync.district import DistrictRun, RunOptions
    from passback.sync.sequence import run_district

    options = options or RunOptions(build_docs=False)
    run = DistrictRun(district_id, options)
    async with run.client() as client:
        sis = await run.preflight(client)
        closed = run.period_check(sis).closed | sis.closed_periods
        drift = await read_drift(run.engine, run.district.id, client, closed)
    record_findings(run.engine, run.district.id, drift, forget_deleted=restore)
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
