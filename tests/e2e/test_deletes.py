"""The deletion policy against the simulator: ``propagate`` DELETEs the results, then the lineItem, of
an assessment deleted in Otus; ``keep`` (the default) never deletes anything."""

from __future__ import annotations

from typing import Any

from passback.settings import get_settings
from passback.store import districts as store
from passback.store import ledger
from passback.store.db import get_engine
from tests.factory import World
from tests.toolkit import Sis, rewrite_source, run_sync


def delete_in_otus(w: World, assessment_id: str) -> None:
    w.assessments.loc[w.assessments["id"] == assessment_id, "status"] = "deleted"
    rewrite_source(w)


def ledger_rows(assessment_id: str) -> list[dict[str, Any]]:
    return ledger.ledger_for_assessment(get_engine(get_settings().state_db_url), "d1", assessment_id)


def deletes_sent(sis: Sis) -> list[tuple[str, str]]:
    return [
        (r["method"], r["path"])
        for r in sis.admin("GET", "requests", params={"tenant": "d1"}).json()["requests"]
        if r["method"] == "DELETE"
    ]


def test_propagate_deletes_the_results_then_the_line_item_and_a_rerun_sends_nothing(
    sis: Sis, factory_world: World
) -> None:
    store.update_district(get_engine(get_settings().state_db_url), "d1", deletion_policy="propagate")
    first = run_sync()
    assert (first.line_items["created"], first.results["created"]) == (2, 4)
    a1_line_item = next(r["sourced_id"] for r in ledger_rows("a-1") if r["kind"] == "lineItem")

    delete_in_otus(factory_world, "a-1")
    preview = run_sync(dry_run=True)
    assert preview.deletes == {"line_items": {"deleted": 1}, "results": {"deleted": 2}}
    assert {d["outcome"] for d in preview.deletions} == {"planned"}
    assert len(sis.state()["lineItems"]) == 2 and deletes_sent(sis) == []  # a dry run deletes nothing

    summary = run_sync()
    assert summary.status == "completed", summary.error
    assert summary.deletes == {"line_items": {"deleted": 1}, "results": {"deleted": 2}}
    assert summary.writes == 3 and summary.reasons.get("assessment_deleted") == 1
    assert sorted((d["kind"], d["outcome"]) for d in summary.deletions) == [
        ("lineItem", "deleted"),
        ("result", "deleted"),
        ("result", "deleted"),
    ]
    state = sis.state()
    assert len(state["lineItems"]) == 1 and len(state["results"]) == 2
    assert a1_line_item not in {li["sourcedId"] for li in state["lineItems"]}
    assert all(r["lineItem"]["sourcedId"] != a1_line_item for r in state["results"])
    sent = deletes_sent(sis)
    assert [p.split("/")[-2] for _, p in sent] == ["results", "results", "lineItems"]  # results first
    assert ledger_rows("a-1") == []  # the ledger forgot what the SIS no longer holds
    assert {r["assessment_id"] for r in ledger_rows("a-2")} == {"a-2"}  # the others are untouched

    rerun = run_sync()
    assert rerun.writes == 0 and rerun.deletes == {"line_items": {}, "results": {}}
    assert len(deletes_sent(sis)) == 3


def test_keep_never_deletes(sis: Sis, factory_world: World) -> None:
    assert store.get_district(get_engine(get_settings().state_db_url), "d1").deletion_policy == "keep"  # the default
    run_sync()
    delete_in_otus(factory_world, "a-1")
    summary = run_sync()
    assert summary.status == "completed" and summary.writes == 0
    assert summary.deletes == {"line_items": {}, "results": {}} and summary.deletions == []
    assert summary.reasons.get("assessment_deleted") == 1
    state = sis.state()
    assert len(state["lineItems"]) == 2 and len(state["results"]) == 4
    assert deletes_sent(sis) == []
    assert len(ledger_rows("a-1")) == 3  # the lineItem and its two results stay recorded


def test_a_refused_delete_keeps_its_ledger_row_and_its_line_item_waits(sis: Sis, factory_world: World) -> None:
    engine = get_engine(get_settings().state_db_url)
    store.update_district(engine, "d1", deletion_policy="propagate")
    run_sync()
    delete_in_otus(factory_world, "a-1")

    def close_q2_once_the_load_starts(done: int, planned: int) -> None:  # after the pre-flight read Q2 open
        if done == 0:
            sis.admin("POST", "tenants/d1/grading-periods/gp-q2/close")

    summary = run_sync(on_progress=close_q2_once_the_load_starts)
    assert summary.deletes == {"results": {"closed": 2}, "line_items": {"pending": 1}}
    assert summary.status == "partial"  # the deletes still owed are the backlog
    assert all("closed" in d["message"] for d in summary.deletions if d["kind"] == "result")
    assert len(sis.state()["lineItems"]) == 2 and len(sis.state()["results"]) == 4
    assert len(ledger_rows("a-1")) == 3  # nothing the SIS refused leaves the ledger
    assert "gp-q2" in store.closed_periods(engine, "d1")  # learned, as from a refused PUT
    sent = len(deletes_sent(sis))
    assert run_sync().deletes == {"line_items": {}, "results": {}}  # nothing is sent into a closed period
    assert len(deletes_sent(sis)) == sent
