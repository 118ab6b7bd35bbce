"""Held plans: a night that tripped a guard, waiting for a person (``passback approve``, the Prefect form).

A hold keeps the writes it showed (one uint64 per write: item and payload hash, see
``passback.guards.measure.Writes.keys``) so that an approval covers exactly those writes, and who
decided, when, and why.  Statuses: ``held`` (waiting), ``paused`` (waiting in a paused Prefect flow
run), ``approved``, ``rejected``, ``applied`` (a run wrote it), ``superseded`` (a later night was
held instead).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import select

from passback.store.db import session
from passback.store.models import GuardHold, utcnow

OPEN = ("held", "paused")


def record_hold(
    engine: Engine,
    district_id: str,
    *,
    run_id: str | None,
    digest: str,
    writes: int,
    guards: list[dict[str, Any]],
    keys: np.ndarray,
) -> str:
    """A new hold for the district; the district's earlier open holds are superseded (one transaction)."""
    hold_id = str(uuid.uuid4())
    with session(engine) as s:
        for old in s.exec(
            select(GuardHold).where(GuardHold.district_id == district_id, GuardHold.status.in_(OPEN))  # type: ignore[attr-defined]
        ).all():
            old.status = "superseded"
            s.add(old)
        s.add(
            GuardHold(
                id=hold_id,
                district_id=district_id,
                run_id=run_id,
                digest=digest,
                writes=writes,
                guards=json.dumps(guards, default=str),
                write_keys=np.ascontiguousarray(keys, dtype="uint64").tobytes(),
            )
        )
    return hold_id


def get_hold(engine: Engine, hold_id: str) -> GuardHold | None:
    with session(engine) as s:
        return s.get(GuardHold, hold_id)


def latest_open(engine: Engine, district_id: str) -> GuardHold | None:
    """The district's hold waiting for a decision (the newest), or None."""
    with session(engine) as s:
        stmt = (
            select(GuardHold)
            .where(GuardHold.district_id == district_id, GuardHold.status.in_(OPEN))  # type: ignore[attr-defined]
            .order_by(GuardHold.created_at.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
        return s.exec(stmt).first()


def mark_paused(engine: Engine, hold_id: str, flow_run_id: str) -> None:
    with session(engine) as s:
        hold = s.get(GuardHold, hold_id)
        if hold is not None and hold.status in OPEN:
            hold.status, hold.flow_run_id = "paused", flow_run_id
            s.add(hold)


def reopen(engine: Engine, hold_id: str) -> None:
    """A paused run ended without an answer: the hold waits for ``passback approve``."""
    with session(engine) as s:
        hold = s.get(GuardHold, hold_id)
        if hold is not None and hold.status == "paused":
            hold.status = "held"
            s.add(hold)


def decide(engine: Engine, hold_id: str, *, approve: bool, by: str, note: str | None) -> GuardHold:
    """Approve or reject an open hold; ValueError when it was decided already (or superseded)."""
    with session(engine) as s:
        hold = s.get(GuardHold, hold_id)
        if hold is None:
            raise ValueError(f"no held plan {hold_id!r}")
        if hold.status not in OPEN:
            raise ValueError(
                f"the held plan of district {hold.district_id} from {hold.created_at:%Y-%m-%d %H:%M} UTC was "
                f"{hold.status} already (by {hold.decided_by or 'a later run'})"
            )
        hold.status = "approved" if approve else "rejected"
        hold.decided_by, hold.decided_at, hold.note = by[:200], utcnow(), (note or None) and note[:2000]
        s.add(hold)
    found = get_hold(engine, hold_id)
    assert found is not None
    return found


def approved(engine: Engine, district_id: str) -> list[GuardHold]:
    """Approved holds not yet applied (their writes may be written)."""
    with session(engine) as s:
        stmt = select(GuardHold).where(GuardHold.district_id == district_id, GuardHold.status == "approved")
        return list(s.exec(stmt.order_by(GuardHold.created_at)).all())  # type: ignore[arg-type]


def approved_keys(holds: list[GuardHold]) -> np.ndarray:
    """The union of the writes these holds cover, sorted."""
    if not holds:
        return np.empty(0, dtype="uint64")
    return np.unique(np.concatenate([np.frombuffer(h.write_keys, dtype="uint64") for h in holds]))


def mark_applied(engine: Engine, hold_ids: list[str], run_id: str | None) -> None:
    with session(engine) as s:
        for hold_id in hold_ids:
            hold = s.get(GuardHold, hold_id)
            if hold is not None and hold.status == "approved":
                hold.status, hold.applied_run_id = "applied", run_id
                s.add(hold)


def by_run(engine: Engine, district_id: str) -> dict[str, GuardHold]:
    """The district's holds by the id of the run that was held (run history, the report index)."""
    with session(engine) as s:
        rows = s.exec(select(GuardHold).where(GuardHold.district_id == district_id)).all()
        return {h.run_id: h for h in rows if h.run_id}


def public(hold: GuardHold) -> dict[str, Any]:
    """A hold as JSON for summaries and the CLI (never the write keys)."""
    return {
        "id": hold.id,
        "status": hold.status,
        "writes": hold.writes,
        "digest": hold.digest[:12],
        "created_at": f"{hold.created_at:%Y-%m-%d %H:%M:%S}",
        "decided_by": hold.decided_by,
        "decided_at": f"{hold.decided_at:%Y-%m-%d %H:%M:%S}" if hold.decided_at else None,
        "note": hold.note,
        "run_id": hold.run_id,
        "flow_run_id": hold.flow_run_id,
        "guards": json.loads(hold.guards),
    }
