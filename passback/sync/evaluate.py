"""Validate + transform + plan: source frames and the SIS context in, a classified plan out.

Every assessment row and every score row leaves with exactly one outcome: a reason code from
the GX suites (``reason``), or a planned action.  No I/O here except through the GX runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd
import pyarrow.compute as pc

from passback.domain import derive, payloads
from passback.domain.codes import ASSESSMENT_REASONS, SCORE_REASONS
from passback.domain.columns import arrow_text, one_array, release_memory
from passback.domain.context import DistrictContext
from passback.domain.plan import LedgerBatches, Plan, empty_ledger, make_plan
from passback.quality import validate_frame

STRUCTURAL_SCORE_REASONS = ("duplicate_row", "unknown_assessment")
RESULT_SOURCE_COLUMNS = ("assessment_id", "student_id", "student_sis_id", "state", "points_earned", "updated_at")


class SourceLike(Protocol):
    users: pd.DataFrame
    classes: pd.DataFrame
    assessments: pd.DataFrame
    scores: pd.DataFrame
    group_members: pd.DataFrame


@dataclass
class Evaluation:
    assessments: pd.DataFrame  # derived columns + "reason" (NA = eligible)
    scores: pd.DataFrame  # derived columns + "reason" (NA = passes back)
    plan: Plan
    validation_results: list[tuple[str, Any]] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    acked_line_items: pd.Index = field(
        default_factory=lambda: pd.Index([], dtype="str")
    )  # held by the SIS before this run
    users: pd.DataFrame | None = None  # the source's users and classes (names, SIS ids) for the report
    classes: pd.DataFrame | None = None
    guard_writes: Any = None  # the plan's writes with what the SIS held before (passback.guards.writes_of)

    def eligible_assessment_ids(self) -> pd.Index:
        return pd.Index(self.assessments.loc[self.assessments["reason"].isna(), "id"])


Classified = tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, Any]]]  # what classify returns


def classify(source: SourceLike, context: DistrictContext) -> Classified:
    """Derive, validate (GX) and tag every assessment and score row with its first failing reason."""
    assessments = derive.derive_assessments(
        source.assessments,
        users=source.users,
        classes=source.classes,
        group_members=source.group_members["user_id"],
        context=context,
    )
    scores = derive.derive_scores(source.scores, assessments=assessments, users=source.users, context=context)
    score_rules = validate_frame(scores, "scores", reason_order=SCORE_REASONS)
    derive.mark_sendable(assessments, scores, score_rules.reasons.isna())
    assessment_rules = validate_frame(assessments, "assessments", reason_order=ASSESSMENT_REASONS)
    assessments["reason"] = assessment_rules.reasons

    # A score of an assessment that does not pass back is blocked by it ("assessment_ineligible"),
    # unless the assessment merely has nothing to send yet: then the score's own reason explains why.
    firsts = assessments[~assessments["is_duplicate"]]
    blocking = firsts.loc[firsts["reason"].notna() & (firsts["reason"] != "nothing_to_send"), "id"]
    blocked = pc.is_in(arrow_text(scores["assessment_id"]), value_set=pc.drop_null(one_array(arrow_text(blocking))))
    blocked = blocked.fill_null(False).to_numpy(zero_copy_only=False)
    reason = score_rules.reasons.copy()
    structural = reason.isin(STRUCTURAL_SCORE_REASONS).to_numpy()
    reason[blocked & ~structural] = "assessment_ineligible"
    scores["reason"] = reason
    return (
        assessments,
        scores,
        [("assessments", assessment_rules.validation_result), ("scores", score_rules.validation_result)],
    )


LedgerReader = Callable[[], tuple[pd.DataFrame | LedgerBatches, pd.DataFrame | LedgerBatches]]


def evaluate(
    source: SourceLike,
    context: DistrictContext,
    *,
    ledger_line_items: pd.DataFrame | None = None,
    ledger_results: pd.DataFrame | None = None,
    retry_rejected: bool = False,
    read_ledger: LedgerReader | None = None,
    now: int | None = None,
    classified: Classified | None = None,
) -> Evaluation:
    """``read_ledger`` (instead of the two ledger frames): called once the payloads are built, so
    the ledger (millions of rows) is not in memory while the rows are classified (stage "ledger");
    a stream of batches it returns may have been read ahead meanwhile, within a bounded number of
    bytes (``store.ledger.prefetched_batches``).
    ``now`` (epoch seconds, the run's clock): refused items whose next try is due are planned again.
    ``classified``: ``classify(source, context)`` already done (in the helper process: ``sync.helper``)."""
    t0 = time.perf_counter()
    assessments, scores, results = classify(source, context) if classified is None else classified
    release_memory()  # each stage hands back what it freed: the next one's peak starts lower
    t1 = time.perf_counter()
    eligible = assessments[assessments["reason"].isna()]
    desired_li = payloads.line_items(eligible)
    passing = scores["reason"].isna().to_numpy()
    desired_res = payloads.results(scores.loc[passing, list(RESULT_SOURCE_COLUMNS)], desired_li)
    del passing
    release_memory()
    t2 = time.perf_counter()
    if read_ledger is not None:
        ledger_line_items, ledger_results = read_ledger()  # (results may stream while the plan is made)
    t_ledger = time.perf_counter() - t2
    plan = make_plan(
        desired_li,
        desired_res,
        ledger_line_items if ledger_line_items is not None else empty_ledger(),
        ledger_results if ledger_results is not None else empty_ledger(),
        retry_rejected=retry_rejected,
        now=now,
    )
    del desired_res, ledger_results
    scores.loc[plan.blocked_results, "reason"] = "line_item_rejected"
    release_memory()
    t3 = time.perf_counter()
    seconds = {"validate": t1 - t0, "transform": t2 - t1, "diff": t3 - t2 - t_ledger}
    if read_ledger is not None:
        seconds["ledger"] = t_ledger
    return Evaluation(
        assessments=assessments,
        scores=scores,
        plan=plan,
        validation_results=results,
        users=source.users,
        classes=source.classes,
        stage_seconds=seconds,
    )
