"""Why did (or didn't) one assessment and each of its scores pass back?"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from passback.domain.codes import PENDING_REASONS, Kind
from passback.quality.meanings import meaning_of
from passback.report.outcomes import row_outcomes
from passback.store import ledger as store_ledger
from passback.sync.district import DistrictRun, SisSnapshot
from passback.sync.evaluate import evaluate
from passback.sync.refusals import refusal_text

ACTION_STATUS = {
    "unchanged": "sent (unchanged since)",
    "create": "pending: will be created by the next run",
    "update": "pending: changed since it was sent; the next run updates it",
    "held": "rejected",
}


@dataclass
class Explanation:
    district: str
    assessment_id: str
    title: str | None
    status: str
    reason: str | None
    message: str | None
    scores: list[dict[str, Any]]
    value: str | None = None  # the offending value ("title length 57 of at most 49")
    meaning: str | None = None  # what the reason means (expectations/reasons.json)
    fix: str | None = None  # who fixes it, and how

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _status(reason: Any, action: Any, entry: dict[str, Any] | None) -> tuple[str, str | None, str | None]:
    """(status, reason, SIS message) for one row."""
    if isinstance(reason, str):
        return ("pending" if reason in PENDING_REASONS else "not sent"), reason, None
    if action == "held" or (entry and entry.get("status") == "rejected" and action != "create"):
        return "rejected", None, refusal_text(entry) if entry else None
    return ACTION_STATUS.get(str(action), str(action)), None, None


def explain_assessment(run: DistrictRun, source: Any, sis: SisSnapshot, assessment_id: str) -> Explanation:
    one = replace(
        source,
        assessments=source.assessments[source.assessments["id"] == assessment_id],
        scores=source.scores[source.scores["assessment_id"] == assessment_id],
    )
    if one.assessments.empty:
        raise KeyError(
            f"assessment {assessment_id!r} is not in district {run.district_id}'s Otus data; check the id (Otus assessment ids look like the `id` column of otus_assessments)"
        )
    entries = store_ledger.ledger_for_assessment(run.engine, run.district_id, assessment_id)
    ledger = (
        pd.DataFrame(entries)
        if entries
        else pd.DataFrame(columns=["kind", "assessment_id", "student_id", "payload_hash", "status"])
    )
    li_ledger = ledger[ledger["kind"] == Kind.line_item] if not ledger.empty else ledger
    res_ledger = ledger[ledger["kind"] == Kind.result] if not ledger.empty else ledger
    ev = evaluate(
        one,
        run.context(sis),
        ledger_line_items=li_ledger,
        ledger_results=res_ledger,
        now=store_ledger.epoch_seconds(run.now),
    )
    first = ev.assessments.iloc[0]
    by_key = {(e["kind"], e["student_id"]): e for e in entries}
    li_action = ev.plan.line_items["action"].iloc[0] if len(ev.plan.line_items) else None
    status, reason, message = _status(first["reason"], li_action, by_key.get((Kind.line_item, "")))
    actions = ev.plan.results.set_index("student_id")["action"] if len(ev.plan.results) else pd.Series(dtype="str")
    outcomes = row_outcomes(ev, None, dry_run=True)
    values = outcomes.scores["value"]
    scores = []
    for i, row in enumerate(ev.scores.itertuples()):
        s_status, s_reason, s_message = _status(
            row.reason, actions.get(row.student_id), by_key.get((Kind.result, row.student_id))
        )
        scores.append(
            {
                "student_id": row.student_id,
                "student_sis_id": _text(row.student_sis_id),
                "state": row.state,
                "points_earned": None if pd.isna(row.points_earned) else float(row.points_earned),
                "status": s_status,
                "reason": s_reason,
                "message": s_message,
                "value": _text(values.iloc[i]) if s_reason else None,
                "meaning": meaning_of(s_reason).meaning if s_reason else None,
            }
        )
    m = meaning_of(reason) if reason else None
    return Explanation(
        run.district_id,
        assessment_id,
        None if pd.isna(first["title"]) else str(first["title"]),
        status,
        reason,
        message,
        scores,
        value=_text(outcomes.assessments["value"].iloc[0]) if reason else None,
        meaning=m.meaning if m else None,
        fix=f"{m.who_text} — {m.fix}" if m else None,
    )


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
