"""The deletes of a load (a district's ``propagate`` deletion policy; ``Plan.deletes``).

An assessment deleted in Otus whose lineItem the SIS acknowledged: its results are DELETEd first,
then its lineItem — not when one of its results could not be deleted (the next run retries).  The
DELETEs go through the client's ``delete_many``: the same workers, pacing, bounds and retry loop as
the PUTs, under the same write budget.  Each acknowledged DELETE (a 404 included: the SIS no longer
holds it) reaches the sink as an entry whose ``action`` is ``"delete"``, in batches like the PUTs;
the ledger then forgets that row, so a rerun sends nothing more.  A refused DELETE keeps its ledger
row (the next run asks again) and is reported with the SIS's words; a refusal because the grading
period is closed teaches that the period is closed, as a refused PUT does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from passback.domain.codes import Kind
from passback.sync.verdicts import is_closed_period_rejection, rejection_text

if TYPE_CHECKING:  # pragma: no cover
    from passback.sync.load import Loader

UNSENT = "not sent: the run's budget was spent; the next run sends it"
DELETE_OUTCOMES = ("deleted", "rejected", "failed", "closed", "pending")


class Deleter:
    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.result = loader.result

    async def run(self, deletes: pd.DataFrame) -> None:
        """Results first, then each lineItem whose results are all gone."""
        if deletes.empty:
            return
        unfinished: set[str] = set()  # assessments with a result not deleted: their lineItem waits
        for kind in (Kind.result, Kind.line_item):
            rows = deletes[deletes["kind"] == kind]
            if kind == Kind.line_item:
                waits = rows["assessment_id"].isin(pd.Index(sorted(unfinished))).to_numpy()
                self.note(rows[waits], "pending", "not sent: a result of it was not deleted; the next run retries")
                rows = rows[~waits]
            closed = rows["grading_period_id"].isin(pd.Index(sorted(self.result.closed_periods))).to_numpy()
            self.note(rows[closed], "closed", "not sent: its grading period is closed in the SIS")
            unfinished.update(rows.loc[closed, "assessment_id"])
            if not await self._delete(kind, rows[~closed], unfinished):
                if kind == Kind.result:
                    self.note(deletes[deletes["kind"] == Kind.line_item], "pending", UNSENT)
                return

    async def _delete(self, kind: str, rows: pd.DataFrame, unfinished: set[str]) -> bool:
        """DELETE ``rows`` of one kind; False when a budget stopped it (the rest stays in the ledger)."""
        if rows.empty:
            return True
        loader = self.loader
        by_sid = {str(r.sourced_id): r for r in rows.itertuples(index=False)}
        answered: set[str] = set()
        counts = self.result.deleted[kind]
        entries: list[dict[str, Any]] = []
        try:
            async for outcome in loader.client.delete_many(
                kind, list(by_sid), should_stop=lambda: not loader._budget_left()
            ):
                row = by_sid[outcome.sourced_id]
                answered.add(outcome.sourced_id)
                if outcome.error is not None:  # not answered (retries spent, or not a OneRoster answer)
                    counts["failed"] += 1
                    unfinished.add(row.assessment_id)
                    self._row(kind, row, "failed", outcome.error)
                    continue
                self.result.writes += 1
                if not outcome.ok:
                    message = rejection_text(outcome)
                    verdict = "closed" if is_closed_period_rejection(message) else "rejected"
                    if verdict == "closed" and row.grading_period_id not in self.result.closed_periods:
                        self.result.closed_periods.add(row.grading_period_id)  # as a PUT's refusal teaches it
                        loader.sink.mark_period_closed(row.grading_period_id, message)
                    counts[verdict] += 1
                    unfinished.add(row.assessment_id)
                    self._row(kind, row, verdict, message)
                    continue
                counts["deleted"] += 1
                self._row(kind, row, "deleted", "")
                entries.append(
                    {
                        "action": "delete",
                        "kind": kind,
                        "assessment_id": row.assessment_id,
                        "student_id": row.student_id,
                        "sourced_id": row.sourced_id,
                        "status": "deleted",
                        "http_status": outcome.http_status,
                        "grading_period_id": row.grading_period_id,
                        "run_id": loader.run_id,
                    }
                )
                if len(entries) >= loader.limits.batch_size:
                    loader.sink.record(entries)
                    entries = []
                loader._tick()
        finally:
            loader.sink.record(entries)
        unsent = rows[~rows["sourced_id"].astype("str").isin(pd.Index(sorted(answered)))]
        unfinished.update(unsent["assessment_id"])
        self.note(unsent, "pending", UNSENT)
        return unsent.empty

    def note(self, rows: pd.DataFrame, outcome: str, message: str) -> None:
        """Planned deletes that were not sent, and why."""
        for row in rows.itertuples(index=False):
            self.result.deleted[row.kind][outcome] += 1
            self._row(row.kind, row, outcome, message)

    def _row(self, kind: str, row: Any, outcome: str, message: str) -> None:
        self.result.deletions.append(
            {
                "kind": kind,
                "assessment_id": row.assessment_id,
                "student_id": row.student_id,
                "outcome": outcome,
                "message": message,
            }
        )


def planned_deletes(
    engine: Any, district_id: str, assessments: pd.DataFrame, closed_periods: frozenset[str]
) -> pd.DataFrame:
    """``Plan.deletes`` for a district that propagates deletions: the acknowledged lineItems (and
    results) of its assessments deleted in Otus, except in closed grading periods (the SIS refuses
    writes there: they wait in the ledger until the period opens)."""
    from passback.domain.plan import plan_deletes
    from passback.store.ledger import ledger_of_assessments

    deleted = pd.Index(assessments.loc[assessments["reason"] == "assessment_deleted", "id"].astype("str").unique())
    if deleted.empty:
        return plan_deletes(deleted, pd.DataFrame())
    deletes = plan_deletes(deleted, ledger_of_assessments(engine, district_id, list(deleted)))
    return deletes[~deletes["grading_period_id"].isin(pd.Index(sorted(closed_periods)))].reset_index(drop=True)
