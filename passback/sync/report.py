"""The run summary: per kind counts by outcome, counts by reason, what the SIS refused, progress."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from passback.domain.codes import Kind
from passback.sync.evaluate import Evaluation
from passback.sync.load import LoadResult

OUTCOME_KEYS = ("created", "updated", "unchanged", "ineligible", "rejected", "failed")
MAX_DETAILS = 200
HELD_MESSAGE = "refused before with the same payload: held until its next try"


def _zero() -> dict[str, int]:
    return {key: 0 for key in OUTCOME_KEYS} | {"pending": 0}


@dataclass
class DistrictSummary:
    district: str
    status: str  # completed | partial | planned | held | failed | stopped | skipped
    line_items: dict[str, int] = field(default_factory=_zero)
    results: dict[str, int] = field(default_factory=_zero)
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    run_id: str | None = None
    writes: int = 0
    seconds: float = 0.0
    writes_per_s: float = 0.0
    backlog: int = 0
    eta_seconds: float | None = None
    data_docs: str | None = None
    rejected: list[dict[str, Any]] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    kind: str = "sync"  # sync | dry_run | backfill (a preview with another effective date)
    detail: str | None = None  # backfill: the effective date previewed
    report_page: str | None = None  # this run's report, relative to the report folder
    run_seconds: float = 0.0  # the whole district run
    reasons_by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    top_held: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per reason, no student data
    backfill: dict[str, Any] | None = None  # the backfill preview (passback.report.backfill)
    guards: list[dict[str, Any]] = field(default_factory=list)  # tripped guards: name, value, limit, usual
    guard_measures: dict[str, Any] | None = None  # every guard's value tonight (the history of the next nights)
    hold: dict[str, Any] | None = None  # held: the plan waiting for a person (why, how to approve)
    approvals: list[dict[str, Any]] = field(default_factory=list)  # earlier approvals this run wrote: who, when, note
    # deletion policy "propagate": DELETEs per kind by outcome (a dry run counts what it would delete
    # as "deleted"), and one row per planned delete (kind, assessment_id, student_id, outcome, message)
    deletes: dict[str, dict[str, int]] = field(default_factory=lambda: {"line_items": {}, "results": {}})
    deletions: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "status": self.status,
            "line_items": dict(self.line_items),
            "results": dict(self.results),
            "reasons": dict(sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "error": self.error,
            "run_id": self.run_id,
            "writes": self.writes,
            "seconds": round(self.seconds, 3),
            "writes_per_s": round(self.writes_per_s, 2),
            "backlog": self.backlog,
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "data_docs": self.data_docs,
            "rejected": self.rejected[:MAX_DETAILS],
            "kind": self.kind,
            "detail": self.detail,
            "report_page": self.report_page,
            "run_seconds": round(self.run_seconds, 3),
            "reasons_by_kind": self.reasons_by_kind,
            "top_held": self.top_held,
            "backfill": self.backfill,
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "guards": self.guards,
            "guard_measures": self.guard_measures,
            "hold": self.hold,
            "approvals": self.approvals,
            "deletes": {k: dict(v) for k, v in self.deletes.items()},
            "deletions": self.deletions[:MAX_DETAILS],
        }


def summarise(district: str, evaluation: Evaluation, load: LoadResult | None, *, dry_run: bool) -> DistrictSummary:
    """Counts every assessment and score row exactly once."""
    summary = DistrictSummary(district=district, status="planned" if dry_run else "completed")
    reasons: Counter[str] = Counter()
    by_kind = {
        "assessment": Counter(evaluation.assessments["reason"].value_counts().to_dict()),
        "score": Counter(evaluation.scores["reason"].value_counts().to_dict()),
    }
    reasons.update(by_kind["assessment"])
    reasons.update(by_kind["score"])
    plan = evaluation.plan
    for key, counts, frame, reason_frame in (
        ("line_items", summary.line_items, plan.line_items, evaluation.assessments),
        ("results", summary.results, plan.results, evaluation.scores),
    ):
        kind = Kind.line_item if key == "line_items" else Kind.result
        counts["ineligible"] = int(reason_frame["reason"].notna().sum())
        actions = frame["action"].value_counts()
        counts["unchanged"] = int(actions.get("unchanged", 0))
        counts["rejected"] = int(actions.get("held", 0))
        planned = int(actions.get("create", 0)) + int(actions.get("update", 0))
        if dry_run or load is None:
            counts["created"] = int(actions.get("create", 0))
            counts["updated"] = int(actions.get("update", 0))
            continue
        done = load.counts[kind]
        for outcome in ("created", "updated", "rejected", "failed"):
            counts[outcome] += int(done.get(outcome, 0))
        counts["ineligible"] += int(done.get("closed", 0)) + int(done.get("blocked", 0))
        counts["pending"] = planned - sum(int(v) for v in done.values())
    if load is not None and not dry_run:
        for detail in load.details:
            code = {"closed": "grading_period_closed", "blocked": "line_item_rejected"}.get(detail["outcome"])
            if code:
                reasons[code] += 1
                by_kind["assessment" if detail["kind"] == Kind.line_item else "score"][code] += 1
        summary.writes = load.writes
        summary.seconds = load.seconds
        summary.writes_per_s = load.writes_per_s
        summary.rejected = [d for d in load.details if d["outcome"] in ("rejected", "failed")][:MAX_DETAILS]
        # not in the SIS yet: what the budget left (pending) and what outlived its retries (failed)
        summary.backlog = sum(c["pending"] + c["failed"] for c in (summary.line_items, summary.results))
        if summary.backlog:
            summary.status = "partial"
            summary.eta_seconds = summary.backlog / load.writes_per_s if load.writes_per_s else None
    _deletes(summary, plan.deletes, load, dry_run=dry_run)
    for kind, frame in ((Kind.line_item, plan.line_items), (Kind.result, plan.results)):  # held until their next try
        held = frame.loc[frame["action"] == "held", ["assessment_id", "student_id"]].head(MAX_DETAILS)
        summary.rejected.extend(
            {"kind": kind, "assessment_id": a, "student_id": s, "outcome": "rejected", "message": HELD_MESSAGE}
            for a, s in zip(held["assessment_id"], held["student_id"], strict=True)
        )
    summary.reasons = {k: int(v) for k, v in reasons.items()}
    summary.reasons_by_kind = {kind: {k: int(v) for k, v in c.items() if v} for kind, c in by_kind.items()}
    summary.stage_seconds = dict(evaluation.stage_seconds)
    return summary


def _deletes(summary: DistrictSummary, planned: pd.DataFrame, load: LoadResult | None, *, dry_run: bool) -> None:
    """The deletes of a district that propagates deletions: what was (or would be) deleted, and what waits."""
    keys = {Kind.line_item: "line_items", Kind.result: "results"}
    if dry_run or load is None:
        for kind, key in keys.items():
            n = int((planned["kind"] == kind).sum())
            summary.deletes[key] = {"deleted": n} if n else {}
        summary.deletions = [
            {
                "kind": r.kind,
                "assessment_id": r.assessment_id,
                "student_id": r.student_id,
                "outcome": "planned",
                "message": "",
            }
            for r in planned.head(MAX_DETAILS).itertuples()
        ]
        return
    for kind, key in keys.items():
        summary.deletes[key] = {k: int(v) for k, v in load.deleted[kind].items() if v}
    summary.deletions = list(load.deletions)
    waiting = sum(c.get("pending", 0) + c.get("failed", 0) for c in summary.deletes.values())
    if waiting:
        summary.backlog += waiting
        if summary.status == "completed":
            summary.status = "partial"
