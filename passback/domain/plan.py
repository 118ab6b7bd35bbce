"""The plan: desired payloads compared with the ledger of what the SIS acknowledged.

Actions per desired row:
- ``create``    never acknowledged by the SIS
- ``update``    acknowledged (or rejected) with a different payload hash
- ``unchanged`` acknowledged with the same hash (SIS-side edits stand)
- ``held``      rejected before with the same payload: not retried until it changes or a
                retry-rejected run asks (reported as ``rejected``)
Results whose lineItem is ``held`` are blocked (``line_item_rejected``) and not planned.

Deletes (only under a district's ``propagate`` deletion policy): the results, then the lineItem, of
each assessment deleted in Otus whose lineItem the SIS acknowledged (``plan_deletes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from passback.domain.payloads import row_key

KEY = ["assessment_id", "student_id"]
LEDGER_COLUMNS = ["assessment_id", "student_id", "payload_hash", "status"]
DELETE_COLUMNS = ["kind", "assessment_id", "student_id", "sourced_id", "grading_period_id"]


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({"assessment_id": pd.Series(dtype="str"), "student_id": pd.Series(dtype="str"),
                         "payload_hash": pd.Series(dtype="int64"), "status": pd.Series(dtype="str")})


def diff(desired: pd.DataFrame, ledger: pd.DataFrame, *, retry_rejected: bool = False) -> pd.Series:
    """The action for each desired row (index aligned with ``desired``)."""
    if ledger.empty:
        return pd.Series("create", index=desired.index, dtype="str")
    ledger_index = pd.Index(row_key(ledger, KEY))
    pos = ledger_index.get_indexer(row_key(desired, KEY))
    known = pos >= 0
    safe = np.clip(pos, 0, None)
    same = known & (ledger["payload_hash"].to_numpy(dtype="int64")[safe] == desired["payload_hash"].to_numpy(dtype="int64"))
    rejected = known & (ledger["status"] == "rejected").fillna(False).to_numpy(dtype=bool)[safe]
    action = np.select(
        [~known, ~same, rejected & (not retry_rejected), rejected],
        ["create", "update", "held", "update"],
        default="unchanged",
    )
    return pd.Series(action, index=desired.index, dtype="str")


def empty_deletes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in DELETE_COLUMNS})


def plan_deletes(deleted_assessments: pd.Index, ledger: pd.DataFrame) -> pd.DataFrame:
    """What to DELETE in the SIS for assessments deleted in Otus: of each one whose lineItem the SIS
    acknowledged, its acknowledged results first, then the lineItem (``DELETE_COLUMNS``; results
    before lineItems).  ``ledger``: the district's ledger rows of those assessments (``kind``,
    ``assessment_id``, ``student_id``, ``sourced_id``, ``status``, ``grading_period_id``)."""
    if ledger.empty or deleted_assessments.empty:
        return empty_deletes()
    acked = ledger[(ledger["status"] == "acked") & ledger["assessment_id"].isin(deleted_assessments)]
    parents = pd.Index(acked.loc[acked["kind"] == "lineItem", "assessment_id"])
    rows = acked[acked["assessment_id"].isin(parents)].copy()
    rows["_order"] = (rows["kind"] == "lineItem").astype("int8")  # results first
    rows = rows.sort_values(["_order", "assessment_id", "student_id"], kind="stable")
    out = rows[DELETE_COLUMNS].reset_index(drop=True)
    return out.astype({c: "str" for c in DELETE_COLUMNS if c != "grading_period_id"})


@dataclass
class Plan:
    line_items: pd.DataFrame  # desired lineItems + "action"
    results: pd.DataFrame     # desired results + "action" (results under a held lineItem removed)
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
    ledger_line_items: pd.DataFrame,
    ledger_results: pd.DataFrame,
    *,
    retry_rejected: bool = False,
) -> Plan:
    li = desired_line_items.copy()
    li["action"] = diff(li, ledger_line_items, retry_rejected=retry_rejected)
    held = pd.Index(li.loc[li["action"] == "held", "assessment_id"])
    under_held = desired_results["assessment_id"].isin(held).to_numpy()
    res = desired_results[~under_held].copy()
    res["action"] = diff(res, ledger_results, retry_rejected=retry_rejected)
    return Plan(line_items=li, results=res, blocked_results=desired_results.index[under_held])
