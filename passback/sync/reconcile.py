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
from typing import Any

from sqlalchemy import delete, tuple_

from passback.domain.codes import Kind
from passback.store import audit
from passback.store import ledger as store_ledger
from passback.store import reconcile_cursor as cursor
from passback.sync.readback import (
    COLLECTION,
    COMPARED,
    PAGE_SIZE,
    Drift,
    ReconcileInterrupted,
    read_drift,
    sis_fields,
)

__all__ = ["COLLECTION", "COMPARED", "Drift", "ReconcileInterrupted", "RestoreNotDone", "reconcile", "sis_fields"]


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
