"""Every source row's outcome in one run: one frame for assessments, one for scores.

Built from the evaluation (reasons, planned actions) and the load (what the SIS acknowledged, refused,
or what stayed pending), vectorised: codes in small integer arrays, text as categoricals (a 4.8M-row
score frame holds a few dozen distinct values per column).  The counts agree with the run summary by
construction: a row is ``ineligible`` when it has a reason, else its plan action or load outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from passback.domain.codes import Kind
from passback.domain.columns import positions
from passback.quality.meanings import ALL_REASONS
from passback.report.values import assessment_values, score_values

OUTCOMES: tuple[str, ...] = ("created", "updated", "unchanged", "ineligible", "rejected", "failed", "pending")
_O = {name: i for i, name in enumerate(OUTCOMES)}
_R = {code: i for i, code in enumerate(ALL_REASONS)}
HELD_MESSAGE = "refused before with the same payload: held until its next try (`passback explain` says when)"
LOAD_REASON = {"closed": "grading_period_closed", "blocked": "line_item_rejected"}


@dataclass
class RowOutcomes:
    """Per source row (index aligned with the evaluation's frames): ``assessment_id``,
    ``student_id`` (scores), ``outcome``, ``reason`` (NA when none), ``value`` (the offending value),
    ``message`` (the SIS's words for rejected and failed rows)."""

    assessments: pd.DataFrame
    scores: pd.DataFrame

    def counts(self) -> dict[str, dict[str, int]]:
        """{"line_items": {outcome: n}, "results": {outcome: n}} like the summary's counts."""
        return {
            key: {o: int(n) for o, n in frame["outcome"].value_counts().items() if n}
            for key, frame in (("line_items", self.assessments), ("results", self.scores))
        }


def row_outcomes(evaluation: Any, load: Any | None, *, dry_run: bool) -> RowOutcomes:
    a, s, plan = evaluation.assessments, evaluation.scores, evaluation.plan
    details = pd.DataFrame(
        load.details if load is not None else [], columns=["kind", "assessment_id", "student_id", "outcome", "message"]
    )
    a_out = _one_kind(a, plan.line_items, Kind.line_item, load, details, dry_run=dry_run)
    s_out = _one_kind(s, plan.results, Kind.result, load, details, dry_run=dry_run)
    assessments = pd.DataFrame({"assessment_id": a["id"].astype("str"), **a_out}, index=a.index)
    assessments["value"] = assessment_values(a, assessments["reason"], a_out["message"])
    scores = pd.DataFrame(
        {"assessment_id": s["assessment_id"].astype("str"), "student_id": s["student_id"].astype("str"), **s_out},
        index=s.index,
    )
    scores["value"] = score_values(s, scores["reason"], a)
    return RowOutcomes(assessments, scores)


def _one_kind(
    frame: pd.DataFrame, planned: pd.DataFrame, kind: str, load: Any | None, details: pd.DataFrame, *, dry_run: bool
) -> dict[str, Any]:
    n = len(frame)
    reason_codes = _reason_codes(frame["reason"])
    outcome = np.full(n, _O["pending"], dtype=np.int8)
    outcome[reason_codes >= 0] = _O["ineligible"]
    message = np.full(n, None, dtype=object)
    pos = _label_positions(frame.index, planned.index)
    loaded = load is not None and not dry_run
    plan_outcome = {
        "create": "pending" if loaded else "created",
        "update": "pending" if loaded else "updated",
        "unchanged": "unchanged",
        "held": "rejected",
    }
    # the action as a small code per row (Arrow's lookup): no Python string per planned row
    action = positions(planned["action"], pd.Index(list(plan_outcome), dtype="str"))
    known = action >= 0
    outcome[pos[known]] = np.array([_O[name] for name in plan_outcome.values()], dtype=np.int8)[action[known]]
    message[pos[action == list(plan_outcome).index("held")]] = HELD_MESSAGE
    if loaded:
        labels = np.frombuffer(load.written[kind], dtype=np.int64) if len(load.written[kind]) else np.zeros(0, np.int64)  # type: ignore[union-attr]
        created = (
            np.frombuffer(load.written_created[kind], dtype=np.int8).astype(bool) if len(labels) else np.zeros(0, bool)  # type: ignore[union-attr]
        )
        at = frame.index.get_indexer(labels)
        outcome[at[created]] = _O["created"]
        outcome[at[~created]] = _O["updated"]
        mine = details[details["kind"] == kind]
        if not mine.empty:
            at, found = _positions(frame, planned, mine)
            for name in ("rejected", "failed", "closed", "blocked"):
                hit = found & (mine["outcome"].to_numpy() == name)
                if name in LOAD_REASON:
                    outcome[at[hit]] = _O["ineligible"]
                    reason_codes[at[hit]] = _R[LOAD_REASON[name]]
                else:
                    outcome[at[hit]] = _O[name]
                message[at[hit]] = mine["message"].to_numpy(dtype=object)[hit]
    return {
        "outcome": pd.Categorical.from_codes(outcome, categories=list(OUTCOMES)),
        "reason": pd.Categorical.from_codes(reason_codes, categories=list(ALL_REASONS)),
        "message": _messages(message),
    }


def _label_positions(index: pd.Index, labels: pd.Index) -> np.ndarray:
    """``index.get_indexer(labels)``; for the evaluation's RangeIndex by arithmetic (3.5M labels)."""
    if isinstance(index, pd.RangeIndex) and index.step == 1 and labels.dtype.kind == "i":
        pos = labels.to_numpy() - index.start
        return np.where((pos >= 0) & (pos < len(index)), pos, -1)
    return index.get_indexer(labels)


def _messages(message: np.ndarray) -> Any:
    """The SIS's words per row as ``str`` (all NA on a quiet night: built in Arrow, not per row)."""
    if not pd.notna(message).any():
        return pd.array(pa.nulls(len(message), pa.large_string()), dtype="str")
    return pd.array(message, dtype="str")


def _reason_codes(reasons: pd.Series) -> np.ndarray:
    """int16 code of each row's reason in ``ALL_REASONS`` (-1: none)."""
    codes, uniques = pd.factorize(reasons, use_na_sentinel=True)
    table = np.array([_R.get(str(u), -1) for u in uniques] + [-1], dtype=np.int16)
    return table[codes] if len(codes) else np.zeros(0, dtype=np.int16)


def _positions(frame: pd.DataFrame, planned: pd.DataFrame, details: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``frame`` of the detail rows (matched on the plan's assessment and student ids)."""
    sub = planned[planned["assessment_id"].isin(pd.Index(details["assessment_id"].astype("str")))]
    keys = pd.MultiIndex.from_arrays([sub["assessment_id"].astype("str"), sub["student_id"].astype("str").fillna("")])
    want = pd.MultiIndex.from_arrays(
        [details["assessment_id"].astype("str"), details["student_id"].astype("str").fillna("")]
    )
    hit = keys.get_indexer(want)
    found = hit >= 0
    labels = sub.index.to_numpy()[np.clip(hit, 0, None)] if len(sub) else np.zeros(len(hit), dtype=np.int64)
    at = frame.index.get_indexer(labels)
    return np.where(found, at, 0), found & (at >= 0)
