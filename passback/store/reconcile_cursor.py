"""Where an interrupted ``passback reconcile`` resumes (``sync.readback.read_drift``): one row per
district — the kind and sourcedId range to read next, the SIS offset where that range's listing
starts, and the findings so far (JSON) — saved after each range, cleared once the findings are
recorded.  A cursor older than the caller's ``within`` is stale: that reconcile starts over."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from passback.store.models import ReconcileCursor, utcnow

_TABLE = ReconcileCursor.__table__  # type: ignore[attr-defined]


def load(engine: Engine, district_id: str, *, within: dt.timedelta) -> Any:
    """The saved ``Progress`` of the district's reconcile, or None (none, or stale)."""
    from passback.sync.readback import Drift, Progress

    with engine.connect() as conn:
        row = conn.execute(select(_TABLE).where(_TABLE.c.district_id == district_id)).mappings().first()
    if row is None or row["updated_at"] < utcnow() - within:
        return None
    found = json.loads(row["findings"])
    drift = Drift(
        edited_in_sis=found["edited_in_sis"], deleted_in_sis=found["deleted_in_sis"], checked=found["checked"]
    )
    return Progress(kind=row["kind"], range=row["range"], offset=row["sis_offset"], drift=drift)


def save(engine: Engine, district_id: str, progress: Any) -> None:
    values = {
        "district_id": district_id,
        "kind": progress.kind,
        "range": progress.range,
        "sis_offset": progress.offset,
        "findings": json.dumps(progress.drift.as_json(), default=str, separators=(",", ":")),
        "updated_at": utcnow(),
    }
    with engine.begin() as conn:
        conn.execute(delete(_TABLE).where(_TABLE.c.district_id == district_id))
        conn.execute(_TABLE.insert().values(**values))


def clear(engine: Engine, district_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(_TABLE).where(_TABLE.c.district_id == district_id))
