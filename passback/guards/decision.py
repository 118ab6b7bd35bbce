"""The guard stage of a district run (between evaluate and load): write, or hold for a person.

``guard_district`` checks the plan; when a guard trips (and no approval covers the writes that trip
it) the plan is recorded as held and nothing is written.  How a person answers depends on where the
run happens: the flows pause the Prefect run for approval; everywhere else the district ends
``held`` until ``passback approve``.  An approval covers exactly the writes that were shown (each
item and its payload): a later run writes them, and whatever else its plan holds is checked by the
guards as usual — a different flood is held again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from passback.guards.check import GuardCheck, check_guards
from passback.guards.explain import assessment_info, drivers, markdown
from passback.store import holds as store_holds


@dataclass
class GuardDecision:
    check: GuardCheck | None
    proceed: bool = True
    hold: dict[str, Any] | None = None  # this run's held plan (when not proceeding)
    approvals: list[dict[str, Any]] = field(default_factory=list)  # earlier approvals this run writes
    replan: bool = False  # approved while paused: make the plan again, check again
    markdown: str | None = None
    found: dict[str, Any] = field(default_factory=dict)  # what drives each tripped guard

    def settle(self, summary: Any) -> None:
        """Put the guards into the run's summary (before its report is written)."""
        if self.check is None:
            return
        summary.guards = self.check.guards_json()
        summary.guard_measures = self.check.measures_json()
        summary.approvals = list(self.approvals)
        if self.proceed or summary.status == "failed":
            return
        summary.status = "held"
        summary.hold = dict(self.hold or {})
        summary.writes = 0
        for counts in (summary.line_items, summary.results):  # planned, not written
            counts["pending"] = int(counts.get("created", 0)) + int(counts.get("updated", 0))
            counts["created"] = counts["updated"] = 0

    def after(self, run: Any, summary: Any) -> None:
        """Once the run record is finished: approvals whose writes all went through are applied."""
        if self.approvals and summary.status == "completed":
            store_holds.mark_applied(run.engine, [a["id"] for a in self.approvals], run.run_id)


def approve_command(district_id: str) -> str:
    return f'passback approve {district_id} --note "why"'


def guard_district(run: Any, evaluation: Any) -> GuardDecision:
    """Check the plan of ``run`` (a DistrictRun) and record a hold when a guard trips (not on a dry run)."""
    writes = getattr(evaluation, "guard_writes", None)
    if writes is None:
        return GuardDecision(None)
    engine, district = run.engine, run.district
    approved = store_holds.approved(engine, district.id)
    students = (
        evaluation.scores["assessment_id"].astype("str").value_counts() if evaluation.scores is not None else None
    )
    check = check_guards(
        engine,
        district,
        writes,
        students=students,
        approved=store_holds.approved_keys(approved),
        approvals=[h.id for h in approved],
    )
    approvals = [store_holds.public(h) | {"guards": None} for h in approved if h.id in check.approvals]
    if not check.tripped or run.options.dry_run:
        found = drivers(check, _info(evaluation)) if check.tripped else {}
        return GuardDecision(check, proceed=True, approvals=approvals, found=found)
    found = drivers(check, _info(evaluation))
    keys = writes.keys()
    from passback.guards.measure import digest

    plan_digest = digest(keys)
    command = approve_command(district.id)
    text = markdown(check, found, command=command, digest=plan_digest)
    hold_id = store_holds.record_hold(
        engine,
        district.id,
        run_id=run.run_id,
        digest=plan_digest,
        writes=writes.count,
        guards=check.guards_json(),
        keys=keys,
    )
    hold = {
        "id": hold_id,
        "status": "held",
        "why": check.why(),
        "writes": writes.count,
        "digest": plan_digest[:12],
        "command": command,
        "decided_by": None,
        "note": None,
    }
    return GuardDecision(check, proceed=False, hold=hold, approvals=approvals, markdown=text, found=found)


def answered(run: Any, decision: GuardDecision, *, approve: bool, by: str, note: str | None) -> GuardDecision:
    """A person's answer to a held plan (the paused run's form): approved -> make the plan again and
    check it (the approval now covers the writes shown); rejected -> the district ends held."""
    hold = store_holds.decide(run.engine, decision.hold["id"], approve=approve, by=by, note=note)  # type: ignore[index]
    updated = dict(decision.hold or {}) | {"status": hold.status, "decided_by": hold.decided_by, "note": hold.note}
    if approve:
        return GuardDecision(decision.check, proceed=False, hold=updated, replan=True)
    return replace(decision, proceed=False, hold=updated, replan=False)


def unanswered(run: Any, decision: GuardDecision, waited_h: float) -> GuardDecision:
    """No answer in time: the district ends held, and the plan stays open for ``passback approve``."""
    store_holds.reopen(run.engine, decision.hold["id"])  # type: ignore[index]
    updated = dict(decision.hold or {}) | {
        "status": "held",
        "why": f"{(decision.hold or {}).get('why')}; no answer within {waited_h:g} h",
    }
    return replace(decision, proceed=False, hold=updated, replan=False)


def _info(evaluation: Any) -> pd.DataFrame | None:
    return assessment_info(
        evaluation.assessments, getattr(evaluation, "users", None), getattr(evaluation, "classes", None)
    )
