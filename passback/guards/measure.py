"""What a night's plan would do to the gradebooks, measured before the first write (vectorised).

``writes_of`` takes the plan and the ledger (what the SIS acknowledged: status and, for results,
the score it holds) and keeps only the writes, each with what the SIS held before.  ``measure``
turns that into one value per guard and, per guard, which writes make it (for the drivers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from passback.domain.columns import is_in
from passback.domain.plan import LedgerBatches
from passback.domain.plan import _column as ledger_column
from passback.domain.plan import _DesiredKeys as DesiredKeys
from passback.domain.plan import _equals as ledger_equals
from passback.guards.limits import COUNT_GUARDS, MIN_STUDENTS, ZERO_SHARE

KEY = ["assessment_id", "student_id"]


@dataclass
class Writes:
    """The plan's writes as the guards see them."""

    line_items: pd.DataFrame  # assessment_id, student_id (""), payload_hash, was_acked
    results: pd.DataFrame  # assessment_id, student_id, payload_hash, score, was_acked, prev_score
    results_total: int = 0  # every result the district passes back (sent or to send)
    results_acked: int = 0  # results the SIS holds (acknowledged before tonight)
    line_items_acked: int = 0
    first_night: bool = False  # nothing acknowledged before: the district's first night

    @property
    def count(self) -> int:
        return len(self.line_items) + len(self.results)

    def keys(self) -> np.ndarray:
        """One uint64 per write (kind, item, payload hash), sorted: what an approval covers."""
        return np.sort(self.unsorted_keys())

    def without(self, approved: np.ndarray) -> tuple[Writes, int]:
        """These writes minus those an approval covers; and how many were covered."""
        if not len(approved) or not self.count:
            return self, 0
        keys = self.unsorted_keys()
        covered = np.isin(keys, approved)
        n_li = len(self.line_items)
        rest = Writes(
            self.line_items[~covered[:n_li]],
            self.results[~covered[n_li:]],
            self.results_total,
            self.results_acked,
            self.line_items_acked,
            self.first_night,
        )
        return rest, int(covered.sum())

    def unsorted_keys(self) -> np.ndarray:
        """``keys()`` in row order (lineItems, then results)."""
        out = []
        for kind, frame in (("lineItem", self.line_items), ("result", self.results)):
            if len(frame):
                out.append(
                    pd.util.hash_pandas_object(
                        pd.DataFrame(
                            {
                                "kind": kind,
                                "assessment_id": frame["assessment_id"].astype("str"),
                                "student_id": frame["student_id"].astype("str"),
                                "payload_hash": frame["payload_hash"].astype("int64"),
                            }
                        ),
                        index=False,
                    ).to_numpy()
                )
        return np.concatenate(out) if out else np.empty(0, dtype="uint64")


def digest(keys: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(keys, dtype="uint64").tobytes()).hexdigest()


SENT_COLUMNS = ["assessment_id", "student_id", "status", "sent_score"]


def writes_of(
    plan: Any,
    ledger_line_items: pd.DataFrame,
    ledger_results: pd.DataFrame | Callable[[], LedgerBatches],
    results_acked: int | None = None,
) -> Writes:
    """The plan's creates and updates, each marked with whether the SIS held the item (acknowledged)
    and, for results, the score it held (NaN when unknown: written before scores were kept).

    ``ledger_results``: the results' ledger (a frame with ``SENT_COLUMNS``), or a function that
    streams it in batches — called only when the plan updates results (a create was never sent), and
    then only the updated rows are kept; ``results_acked``: how many results the SIS holds (counted
    from the frame when not given)."""
    li = plan.line_item_writes
    res = plan.result_writes
    acked_li = (
        ledger_line_items.loc[ledger_line_items["status"] == "acked", "assessment_id"]
        if len(ledger_line_items)
        else pd.Series([], dtype="str")
    )
    li_out = pd.DataFrame(
        {
            "assessment_id": li["assessment_id"].astype("str"),
            "student_id": "",
            "payload_hash": li["payload_hash"].astype("int64"),
            "was_acked": is_in(li["assessment_id"], acked_li),
        },
        index=li.index,
    )
    if isinstance(ledger_results, pd.DataFrame):
        if results_acked is None:
            results_acked = int((ledger_results["status"] == "acked").sum()) if len(ledger_results) else 0
        frame = ledger_results
        ledger_results = lambda: [frame]  # noqa: E731
    was_acked, prev = sent_before(res, ledger_results)
    res_out = pd.DataFrame(
        {
            "assessment_id": res["assessment_id"].astype("str"),
            "student_id": res["student_id"].astype("str"),
            "payload_hash": res["payload_hash"].astype("int64"),
            "score": res["score"].astype("float64"),
            "was_acked": was_acked,
            "prev_score": prev,
        },
        index=res.index,
    )
    n_acked_li = len(acked_li)
    results_acked = int(results_acked or 0)
    return Writes(
        li_out,
        res_out,
        results_total=len(plan.results),
        results_acked=results_acked,
        line_items_acked=n_acked_li,
        first_night=(n_acked_li == 0 and results_acked == 0),
    )


def sent_before(res: pd.DataFrame, batches: Callable[[], LedgerBatches]) -> tuple[np.ndarray, np.ndarray]:
    """Per result write: acknowledged before, and the score the SIS held (NaN: unknown).  Only the
    updates are looked up, by the plan's binary-search key index, one ledger batch at a time."""
    was_acked = np.zeros(len(res), dtype=bool)
    prev = np.full(len(res), np.nan)
    updates = (
        np.flatnonzero((res["action"] == "update").to_numpy(dtype=bool)) if "action" in res else np.arange(len(res))
    )
    if not len(updates):
        return was_acked, prev
    index = DesiredKeys(res.iloc[updates][KEY])
    for batch in batches():
        rows, target = index.find(batch)
        if not len(rows):
            continue
        acked = ledger_equals(batch["status"], "acked")[rows]
        score = batch.get("sent_score")
        sent = (
            pd.to_numeric(pd.Series(ledger_column(score)[rows]), errors="coerce").to_numpy(dtype="float64")
            if score is not None
            else np.full(len(rows), np.nan)
        )
        at = updates[target]
        was_acked[at] = acked
        prev[at] = np.where(acked, sent, np.nan)
    return was_acked, prev


@dataclass
class Measures:
    values: dict[str, float]
    result_rows: dict[str, np.ndarray] = field(default_factory=dict)  # guard -> mask over the result writes
    line_item_rows: dict[str, np.ndarray] = field(default_factory=dict)  # guard -> mask over the lineItem writes
    zero_shares: pd.DataFrame | None = None  # per assessment: students, new_zeros, share (MIN_STUDENTS or more)


def measure(writes: Writes, students: pd.Series | None = None) -> Measures:
    """One value per guard.  ``students``: score rows per assessment id (its students), for zero_share."""
    res, li = writes.results, writes.line_items
    score = res["score"].to_numpy(dtype="float64")
    prev = res["prev_score"].to_numpy(dtype="float64")
    was = res["was_acked"].to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        new_zero = (score == 0) & ~(was & (prev == 0))
        changed = was & ~(prev == score)  # unknown previous score: the payload changed, counted
        lowered = was & ~np.isnan(prev) & (score < prev)
    li_changed = li["was_acked"].to_numpy(dtype=bool)
    rows = {"new_zeros": new_zero, "changed_scores": changed, "lowered_scores": lowered}
    values: dict[str, float] = {name: float(mask.sum()) for name, mask in rows.items()}
    values["changed_line_items"] = float(li_changed.sum())
    values["writes"] = float(writes.count)
    shares = zero_shares(res.loc[new_zero, "assessment_id"], students)
    values[ZERO_SHARE] = float(shares["share"].max()) if len(shares) else 0.0
    assert set(values) == {g.name for g in COUNT_GUARDS} | {ZERO_SHARE}
    return Measures(values, result_rows=rows, line_item_rows={"changed_line_items": li_changed}, zero_shares=shares)


def zero_shares(zero_assessments: pd.Series, students: pd.Series | None) -> pd.DataFrame:
    """Per assessment with ``MIN_STUDENTS`` or more students: how many of them get a new 0 tonight."""
    empty = pd.DataFrame(
        {
            "students": pd.Series(dtype="int64"),
            "new_zeros": pd.Series(dtype="int64"),
            "share": pd.Series(dtype="float64"),
        }
    )
    if students is None or not len(zero_assessments):
        return empty
    zeros = zero_assessments.value_counts()
    n = students.reindex(zeros.index).fillna(0).astype("int64")
    frame = pd.DataFrame({"students": n, "new_zeros": zeros.astype("int64")})
    frame = frame[frame["students"] >= MIN_STUDENTS]
    frame["share"] = frame["new_zeros"] / frame["students"]
    return frame.sort_values(["share", "new_zeros"], ascending=False)
