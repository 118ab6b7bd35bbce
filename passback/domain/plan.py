"""The plan: desired payloads compared with the ledger of what the SIS acknowledged.

Actions per desired row:
- ``create``    never acknowledged by the SIS
- ``update``    acknowledged (or rejected) with a different payload hash
- ``unchanged`` acknowledged with the same hash (SIS-side edits stand)
- ``held``      refused before with the same payload and its next try is not due yet (held
                until its next try, ``refusal_wait_days``; a changed payload or a retry-rejected
                run sends it at once; reported as ``rejected``)
Results whose lineItem is ``held`` are blocked (``line_item_rejected``) and not planned.

Deletes (only under a district's ``propagate`` deletion policy): the results, then the lineItem, of
each assessment deleted in Otus whose lineItem the SIS acknowledged (``plan_deletes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passback.domain.columns import arrow_text, is_in, labels, one_array, pair_keys

KEY = ["assessment_id", "student_id"]
LEDGER_COLUMNS = ["assessment_id", "student_id", "payload_hash", "status", "retry_at"]
DELETE_COLUMNS = ["kind", "assessment_id", "student_id", "sourced_id", "grading_period_id"]
NEVER = 2**62  # retry_at of a refusal that waits for its payload to change
RETRY_SLACK_S = 6 * 3600  # a next try falls due a few hours before the same time of its night


def refusal_wait_days(refusals: int, max_days: int) -> int | None:
    """Nights between the ``refusals``-th refusal of an item in a row and its next try: 1, 2, 4, 8 ...
    at most ``max_days`` (None: ``max_days`` 0, tried again only when its payload changes)."""
    if max_days <= 0:
        return None
    return int(min(2 ** min(max(refusals, 1) - 1, 30), max_days))


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "assessment_id": pd.Series(dtype="str"),
            "student_id": pd.Series(dtype="str"),
            "payload_hash": pd.Series(dtype="int64"),
            "status": pd.Series(dtype="str"),
        }
    )


ACTIONS = ("create", "update", "held", "unchanged")


LedgerBatches = Iterable[Mapping[str, Any]]  # column -> Arrow array or pandas Series (KEY, payload_hash, status)


class _DesiredKeys:
    """The desired rows' natural keys as sorted int64 codes: a ledger row (or a batch of them) finds
    its desired row by binary search — no hash table of millions of keys, no ledger frame."""

    def __init__(self, desired: pd.DataFrame) -> None:
        codes, self.distinct = [], []
        for col in KEY:
            mine = arrow_text(desired[col])
            mine = mine.fill_null("") if mine.null_count else mine  # keys compare as text, NA as ""
            distinct = one_array(pc.unique(mine))
            codes.append(_ints(pc.index_in(mine, value_set=distinct)))
            self.distinct.append(distinct)
            del mine
        keys = pair_keys(codes[0], codes[1], len(self.distinct[1]))
        del codes
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self._code_of: list[dict[str, int] | None] = [None] * len(KEY)

    def find(self, batch: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(rows of the batch that are desired, the desired row of each)."""
        found = []
        for i, col in enumerate(KEY):
            theirs = arrow_text(batch[col])
            theirs = theirs.fill_null("") if theirs.null_count else theirs
            found.append(self._codes(i, theirs))
        rows = np.flatnonzero((found[0] >= 0) & (found[1] >= 0))
        if not len(rows) or not len(self.keys):
            return rows[:0], rows[:0]
        keys = pair_keys(found[0][rows], found[1][rows], len(self.distinct[1]))
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        hit = self.keys[at] == keys  # both ids desired, the pair maybe not
        return rows[hit], self.order[at[hit]]

    def _codes(self, i: int, theirs: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The code of each id among the desired ids of key column ``i`` (-1: not desired).  The
        ledger is read in its primary key's order, by assessment: a run of equal ids (an
        assessment's results) is looked up once, in a dict built once, instead of rebuilding
        Arrow's hash table of the desired ids for every batch (~70 % of the lookup, L: 14 batches)."""
        n = len(theirs)
        heads = _run_heads(theirs)
        if len(heads) * RUNS_WORTH > n:
            return _ints(pc.index_in(theirs, value_set=self.distinct[i]))
        if (code_of := self._code_of[i]) is None:
            code_of = self._code_of[i] = {v: c for c, v in enumerate(self.distinct[i].to_pylist())}
        get = code_of.get
        firsts = theirs.take(pa.array(heads)).to_pylist()
        codes = np.fromiter((get(v, -1) for v in firsts), dtype=np.int64, count=len(heads))
        return np.repeat(codes, np.diff(np.append(heads, n)))


RUNS_WORTH = 4  # look ids up per run when runs are at least this long on average


def _run_heads(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions where a run of equal values starts (non-null values)."""
    n = len(values)
    if n < 2:
        return np.arange(n)
    change = pc.not_equal(values.slice(1), values.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return np.flatnonzero(np.concatenate(([True], change)))


def _ints(codes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Codes as integers (an id the other side does not know is null there: -1, never a float NaN)."""
    codes = codes.fill_null(-1) if codes.null_count else codes
    return codes.to_numpy(zero_copy_only=False)


def _batches(ledger: pd.DataFrame | LedgerBatches) -> LedgerBatches:
    return [ledger] if isinstance(ledger, pd.DataFrame) else ledger


def diff(
    desired: pd.DataFrame, ledger: pd.DataFrame | LedgerBatches, *, retry_rejected: bool = False, now: int | None = None
) -> pd.Series:
    """The action for each desired row (index aligned with ``desired``).  ``ledger``: a frame, or
    batches of ledger rows (streamed from the state DB: the ledger is never whole in memory).
    ``now`` (epoch seconds): a refused row whose ``retry_at`` is past is tried again (``update``);
    without it (or without the column) a refused row with an unchanged payload is ``held``."""
    if desired.empty or (isinstance(ledger, pd.DataFrame) and ledger.empty):
        return pd.Series("create", index=desired.index, dtype="str")
    index = _DesiredKeys(desired)
    n = len(desired)
    known = np.zeros(n, dtype=bool)
    ledger_hash = np.zeros(n, dtype=np.int64)
    rejected = np.zeros(n, dtype=bool)
    due = np.zeros(n, dtype=bool)
    for batch in _batches(ledger):
        rows, target = index.find(batch)
        fresh = ~known[target]  # of two ledger rows with one key (never: it is the primary key) the first wins
        rows, target = rows[fresh], target[fresh]
        known[target] = True
        ledger_hash[target] = _column(batch["payload_hash"]).astype(np.int64)[rows]
        rejected[target] = _equals(batch["status"], "rejected")[rows]
        if now is not None and "retry_at" in batch:
            due[target] = _column(batch["retry_at"]).astype(np.int64)[rows] <= now
    same = known & (ledger_hash == desired["payload_hash"].to_numpy(dtype="int64"))
    rejected &= known
    waiting = rejected & ~due
    action = np.select([~known, ~same, waiting & (not retry_rejected), rejected], [0, 1, 2, 1], default=3)
    return labels(action, ACTIONS, desired.index)


def _equals(values: Any, text: str) -> np.ndarray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return pc.equal(values, text).fill_null(False).to_numpy(zero_copy_only=False)
    return (values == text).fillna(False).to_numpy(dtype=bool)


def _column(values: Any) -> np.ndarray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_numpy(zero_copy_only=False)
    return values.to_numpy(dtype=object, na_value=None) if values.dtype == "str" else values.to_numpy()


def empty_deletes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in DELETE_COLUMNS})


def plan_deletes(deleted_assessments: pd.Index, ledger: pd.DataFrame) -> pd.DataFrame:
    """What to DELETE in the SIS for assessments deleted in Otus: of each one whose lineItem the SIS
    acknowledged, its acknowledged results first, then the lineItem (``DELETE_COLUMNS``; results
    before lineItems).  ``ledger``: the district's ledger rows of those assessments (``kind``,
    ``assessment_id``, ``student_id``, ``sourced_id``, ``status``, ``grading_period_id``)."""
    if ledger.empty or deleted_assessments.empty:
        return empty_deletes()
    acked = ledger[
        (ledger["status"] == "acked").to_numpy(dtype=bool, na_value=False)
        & is_in(ledger["assessment_id"], deleted_assessments)
    ]
    parents = pd.Index(acked.loc[acked["kind"] == "lineItem", "assessment_id"])
    rows = acked[is_in(acked["assessment_id"], parents)].copy()
    rows["_order"] = (rows["kind"] == "lineItem").astype("int8")  # results first
    rows = rows.sort_values(["_order", "assessment_id", "student_id"], kind="stable")
    out = rows[DELETE_COLUMNS].reset_index(drop=True)
    return out.astype({c: "str" for c in DELETE_COLUMNS if c != "grading_period_id"})


@dataclass
class Plan:
    line_items: pd.DataFrame  # desired lineItems + "action"
    results: pd.DataFrame  # desired results + "action" (results under a held lineItem removed)
    blocked_results: pd.Series  # index of score rows blocked by a held lineItem (line_item_rejected)
    deletes: pd.DataFrame = field(default_factory=empty_deletes)  # propagate policy: DELETE_COLUMNS, results first

    def writes(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["action"].isin(["create", "update"])]

    @property
    def line_item_writes(self) -> pd.DataFrame:
        return self.writes(self.line_items)

    @property
    def result_writes(self) -> pd.DataFrame:
        return self.writes(self.results)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "line_items": self.line_items["action"].value_counts().to_dict(),
            "results": self.results["action"].value_counts().to_dict(),
        }


def make_plan(
    desired_line_items: pd.DataFrame,
    desired_results: pd.DataFrame,
    ledger_line_items: pd.DataFrame | LedgerBatches,
    ledger_results: pd.DataFrame | LedgerBatches,
    *,
    retry_rejected: bool = False,
    now: int | None = None,
) -> Plan:
    """``now``: the run's clock in epoch seconds (refused items whose next try is due are retried)."""
    li = desired_line_items.copy()
    li["action"] = diff(li, ledger_line_items, retry_rejected=retry_rejected, now=now)
    held = pd.Index(li.loc[li["action"] == "held", "assessment_id"])
    under_held = is_in(desired_results["assessment_id"], held)
    res = desired_results[~under_held] if under_held.any() else desired_results
    res = res.assign(action=diff(res, ledger_results, retry_rejected=retry_rejected, now=now))
    return Plan(line_items=li, results=res, blocked_results=desired_results.index[under_held])
