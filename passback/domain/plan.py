"""The plan: desired payloads compared with the ledger of what the SIS acknowledged.

Actions per desired row:
- ``create``    never acknowledged by the SIS
- ``update``    acknowledged (or rejected) with a different payload hash
- ``unchanged`` acknowledged with the same hash (SIS-side edits stand)
- ``held``      rejected before with the same payload: not retried until it changes or a
                retry-rejected run asks (reported as ``rejected``)
Results whose lineItem is ``held`` are blocked (``line_item_rejected``) and not planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passback.domain.columns import arrow_text, labels, one_array, pair_keys

KEY = ["assessment_id", "student_id"]
LEDGER_COLUMNS = ["assessment_id", "student_id", "payload_hash", "status"]


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({"assessment_id": pd.Series(dtype="str"), "student_id": pd.Series(dtype="str"),
                         "payload_hash": pd.Series(dtype="int64"), "status": pd.Series(dtype="str")})


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

    def find(self, batch: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(rows of the batch that are desired, the desired row of each)."""
        found = []
        for col, distinct in zip(KEY, self.distinct, strict=True):
            theirs = arrow_text(batch[col])
            theirs = theirs.fill_null("") if theirs.null_count else theirs
            found.append(pc.index_in(theirs, value_set=distinct))
        known = pc.and_(pc.is_valid(found[0]), pc.is_valid(found[1])).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(known)
        if not len(rows) or not len(self.keys):
            return rows[:0], rows[:0]
        keys = pair_keys(_ints(found[0])[rows], _ints(found[1])[rows], len(self.distinct[1]))
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        hit = self.keys[at] == keys  # both ids desired, the pair maybe not
        return rows[hit], self.order[at[hit]]


def _ints(codes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Codes as integers (an id the other side does not know is null there: -1, never a float NaN)."""
    codes = codes.fill_null(-1) if codes.null_count else codes
    return codes.to_numpy(zero_copy_only=False)


def _batches(ledger: pd.DataFrame | LedgerBatches) -> LedgerBatches:
    return [ledger] if isinstance(ledger, pd.DataFrame) else ledger


def diff(desired: pd.DataFrame, ledger: pd.DataFrame | LedgerBatches, *, retry_rejected: bool = False) -> pd.Series:
    """The action for each desired row (index aligned with ``desired``).  ``ledger``: a frame, or
    batches of ledger rows (streamed from the state DB: the ledger is never whole in memory)."""
    if desired.empty or (isinstance(ledger, pd.DataFrame) and ledger.empty):
        return pd.Series("create", index=desired.index, dtype="str")
    index = _DesiredKeys(desired)
    n = len(desired)
    known = np.zeros(n, dtype=bool)
    ledger_hash = np.zeros(n, dtype=np.int64)
    rejected = np.zeros(n, dtype=bool)
    for batch in _batches(ledger):
        rows, target = index.find(batch)
        fresh = ~known[target]  # of two ledger rows with one key (never: it is the primary key) the first wins
        rows, target = rows[fresh], target[fresh]
        known[target] = True
        ledger_hash[target] = _column(batch["payload_hash"]).astype(np.int64)[rows]
        rejected[target] = _equals(batch["status"], "rejected")[rows]
    same = known & (ledger_hash == desired["payload_hash"].to_numpy(dtype="int64"))
    rejected &= known
    action = np.select([~known, ~same, rejected & (not retry_rejected), rejected], [0, 1, 2, 1], default=3)
    return labels(action, ACTIONS, desired.index)


def _equals(values: Any, text: str) -> np.ndarray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return pc.equal(values, text).fill_null(False).to_numpy(zero_copy_only=False)
    return (values == text).fillna(False).to_numpy(dtype=bool)


def _column(values: Any) -> np.ndarray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_numpy(zero_copy_only=False)
    return values.to_numpy(dtype=object, na_value=None) if values.dtype == "str" else values.to_numpy()


@dataclass
class Plan:
    line_items: pd.DataFrame  # desired lineItems + "action"
    results: pd.DataFrame     # desired results + "action" (results under a held lineItem removed)
    blocked_results: pd.Series  # index of score rows blocked by a held lineItem (line_item_rejected)

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
) -> Plan:
    li = desired_line_items.copy()
    li["action"] = diff(li, ledger_line_items, retry_rejected=retry_rejected)
    held = pd.Index(li.loc[li["action"] == "held", "assessment_id"])
    under_held = desired_results["assessment_id"].isin(held).to_numpy()
    res = desired_results[~under_held] if under_held.any() else desired_results
    res = res.assign(action=diff(res, ledger_results, retry_rejected=retry_rejected))
    return Plan(line_items=li, results=res, blocked_results=desired_results.index[under_held])
