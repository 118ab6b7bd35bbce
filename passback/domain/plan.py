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

from dataclasses import dataclass

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


def ledger_positions(desired: pd.DataFrame, ledger: pd.DataFrame) -> np.ndarray:
    """For each desired row, the position of the ledger row with the same natural key (-1: none).

    Keys are compared as text (NA as ""), through integer codes: the ids are encoded once against
    the desired side's distinct values (Arrow), and the pairs become one int64 each."""
    pairs = []
    for col in KEY:
        mine, theirs = arrow_text(desired[col]), arrow_text(ledger[col])
        mine = mine.fill_null("") if mine.null_count else mine  # (fill_null copies even without nulls)
        theirs = theirs.fill_null("") if theirs.null_count else theirs
        distinct = one_array(pc.unique(mine))
        pairs.append((pc.index_in(mine, value_set=distinct), pc.index_in(theirs, value_set=distinct), len(distinct)))
        del mine, theirs
    (d_a, l_a, _), (d_s, l_s, n_s) = pairs
    known = pc.and_(pc.is_valid(l_a), pc.is_valid(l_s)).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(known)
    ledger_keys = pair_keys(_ints(l_a)[rows], _ints(l_s)[rows], n_s)
    del l_a, l_s, known
    # a sort and a binary search: no hash table of millions of keys (~130 MB for L's 3.7M)
    order = np.argsort(ledger_keys, kind="stable")  # stable: of equal keys (never in a ledger) the first row wins
    ledger_keys = ledger_keys[order]
    rows = rows[order]
    del order
    desired_keys = pair_keys(_ints(d_a), _ints(d_s), n_s)
    del d_a, d_s
    at = np.searchsorted(ledger_keys, desired_keys, side="left")
    np.minimum(at, len(ledger_keys) - 1, out=at) if len(ledger_keys) else None
    found = ledger_keys[at] == desired_keys if len(ledger_keys) else np.zeros(len(desired_keys), dtype=bool)
    return np.where(found, rows[at] if len(rows) else -1, -1)


def _ints(codes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return codes.to_numpy(zero_copy_only=False)


def diff(desired: pd.DataFrame, ledger: pd.DataFrame, *, retry_rejected: bool = False) -> pd.Series:
    """The action for each desired row (index aligned with ``desired``)."""
    if ledger.empty or desired.empty:
        return pd.Series("create", index=desired.index, dtype="str")
    pos = ledger_positions(desired, ledger)
    known = pos >= 0
    safe = np.clip(pos, 0, None)
    same = known & (ledger["payload_hash"].to_numpy(dtype="int64")[safe] == desired["payload_hash"].to_numpy(dtype="int64"))
    rejected = known & (ledger["status"] == "rejected").fillna(False).to_numpy(dtype=bool)[safe]
    action = np.select(
        [~known, ~same, rejected & (not retry_rejected), rejected],
        [0, 1, 2, 1],
        default=3,
    )
    return labels(action, ACTIONS, desired.index)


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
    ledger_line_items: pd.DataFrame,
    ledger_results: pd.DataFrame,
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
