"""Grading periods passback learned were closed (from a refusal) are re-checked: they heal.

A period closed by configuration stays closed until the configuration changes.  A period learned
closed (``source = "sis"``: a write into it was refused "grading period closed") is, each run:

* **reopened** when the SIS's own data says it is open: its grading period record flags it open
  (``skyward.gradingPeriodClosed`` false) and the SIS changed that record since passback learned
  the closure (its ``dateLastModified`` is not the one the record had then: no comparison of two
  machines' clocks) — the learned row is forgotten and its items resume;
* **probed** when it was learned (or last probed) at least ``PROBE_EVERY_DAYS`` ago: the run sends
  ONE write into it first; acknowledged, the period is open again (forgotten, the rest follows);
  refused again, it stays closed until the next probe;
* else **closed**: its items are held back (``grading_period_closed``) without a write.

Items refused because their period was closed wait for the period, not for their own schedule
(their ``retry_at`` is 0): when the period reopens they all go at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, delete, select

from passback.store.db import session
from passback.store.models import ClosedGradingPeriod

PROBE_EVERY_DAYS = 7
CLOSED_KEY = "skyward.gradingPeriodClosed"


@dataclass(frozen=True)
class PeriodCheck:
    closed: frozenset[str] = frozenset()  # held back this run (configuration, learned and not due)
    reopened: frozenset[str] = frozenset()  # the SIS says open since: forgotten when the run loads
    probe: frozenset[str] = frozenset()  # one probe write first
    learned: dict[str, dt.datetime] = field(default_factory=dict)  # learned-closed period -> since


def open_in_sis(periods: list[Any]) -> dict[str, str | None]:
    """The grading periods the SIS's own record flags open, with its ``dateLastModified``."""
    return {
        p.sourcedId: getattr(p, "dateLastModified", None)
        for p in periods
        if (getattr(p, "metadata", None) or {}).get(CLOSED_KEY) is False
    }


def _naive_utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def check(engine: Any, district_id: str, sis_open: dict[str, str | None], now: dt.datetime) -> PeriodCheck:
    """Which closed periods stay closed, reopened, or get a probe write this run (reads only)."""
    now = _naive_utc(now)
    with session(engine) as s:
        rows = s.exec(select(ClosedGradingPeriod).where(ClosedGradingPeriod.district_id == district_id)).all()
    closed, reopened, probe, learned = set(), set(), set(), {}
    for row in rows:
        gp = row.grading_period_id
        if row.source != "sis":
            closed.add(gp)
            continue
        learned[gp] = row.noted_at
        last_check = row.probed_at or row.noted_at
        modified = sis_open.get(gp)
        if gp in sis_open and modified is not None and modified != row.sis_modified:
            reopened.add(gp)
        elif now - last_check >= dt.timedelta(days=PROBE_EVERY_DAYS):
            probe.add(gp)
        else:
            closed.add(gp)
    return PeriodCheck(frozenset(closed), frozenset(reopened), frozenset(probe), learned)


def note_closed(
    engine: Any,
    district_id: str,
    grading_period_id: str,
    message: str,
    at: dt.datetime,
    sis_modified: str | None = None,
) -> None:
    """A write into the period was refused "closed": learn it (or, re-learned by a probe, note the
    probe).  ``sis_modified``: the period record's ``dateLastModified`` in this run's pre-flight."""
    at = _naive_utc(at)
    with session(engine) as s:
        row = s.get(ClosedGradingPeriod, (district_id, grading_period_id))
        if row is None:
            s.add(
                ClosedGradingPeriod(
                    district_id=district_id,
                    grading_period_id=grading_period_id,
                    source="sis",
                    message=(message or "")[:1000],
                    noted_at=at,
                    sis_modified=sis_modified,
                )
            )
        elif row.source == "sis":
            row.probed_at, row.sis_modified = at, sis_modified
            s.add(row)


def forget(engine: Any, district_id: str, grading_period_ids: set[str] | frozenset[str]) -> None:
    """The periods are open again (the SIS said so, or a probe write was acknowledged)."""
    if not grading_period_ids:
        return
    with session(engine) as s:
        s.exec(
            delete(ClosedGradingPeriod).where(
                col(ClosedGradingPeriod.district_id) == district_id,
                col(ClosedGradingPeriod.source) == "sis",
                col(ClosedGradingPeriod.grading_period_id).in_(list(grading_period_ids)),
            )
        )
