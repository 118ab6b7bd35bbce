"""Reconcile streams the SIS range by range and resumes: one interrupted midway (its page budget)
leaves its progress in the state DB, and the rerun finishes with the same report as an uninterrupted
reconcile without reading the finished ranges again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from passback.domain.payloads import line_item_id, result_id
from passback.sync.reconcile import ReconcileInterrupted, reconcile
from tests.audit.helpers import teacher_delete, teacher_put
from tests.toolkit import Sis, run_sync

READS = ("/lineItems", "/results")


def _report(drift: Any) -> dict[str, Any]:
    out = drift.as_json()
    return {
        "edited_in_sis": sorted(out["edited_in_sis"], key=lambda f: (f["sourced_id"], f["field"])),
        "deleted_in_sis": sorted(out["deleted_in_sis"], key=lambda f: f["sourced_id"]),
        "checked": out["checked"],
    }


def _collection_reads(sis: Sis, since: int) -> list[dict[str, Any]]:
    return [r for r in sis.requests("d1", since) if r["method"] == "GET" and r["path"].endswith(READS)]


def _last_seq(sis: Sis) -> int:
    log = sis.requests("d1")
    return int(log[-1]["seq"]) if log else 0


def test_an_interrupted_reconcile_resumes_where_it_stopped_with_the_same_report(sis: Sis) -> None:
    assert run_sync().writes == 6
    teacher_put(sis, "results", result_id("d1", "a-1", "u-s1"), "result", {"score": 9.5})
    teacher_delete(sis, "lineItems", line_item_id("d1", "a-2"))  # and its two results

    start = _last_seq(sis)
    full = _report(asyncio.run(reconcile("d1", page_size=1)))  # one object per page: many ranges, many pages
    full_reads = len(_collection_reads(sis, start))
    assert full["checked"] == 6 and len(full["edited_in_sis"]) == 1 and len(full["deleted_in_sis"]) == 3

    start = _last_seq(sis)
    with pytest.raises(ReconcileInterrupted, match="budget of 2 page"):
        asyncio.run(reconcile("d1", page_size=1, page_budget=2))
    first_part = len(_collection_reads(sis, start))
    assert 0 < first_part < full_reads

    start = _last_seq(sis)
    resumed = _report(asyncio.run(reconcile("d1", page_size=1)))
    rest = len(_collection_reads(sis, start))
    assert resumed == full
    assert rest < full_reads  # the finished ranges were not read again
    assert first_part + rest <= full_reads + 2  # at most the one-page resume margin read twice

    start = _last_seq(sis)
    assert _report(asyncio.run(reconcile("d1", page_size=1))) == full  # done: the cursor is gone, a new one starts over
    assert len(_collection_reads(sis, start)) == full_reads
