"""District-wide rejections: the "Use Grade When Posting ..." setting, and a grading period closed mid-run.

Both are judged from what the simulator saw (its stats and request log), not only from the summary.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from passback.domain.payloads import line_item_id, result_id
from passback.scenario import Scenario
from passback.settings import get_settings
from passback.store import districts as store
from tests.factory import World, write_source
from tests.reliability._districts import (
    Q2,
    Q3,
    Watcher,
    big_world,
    expected_ids,
    item_id_of_path,
    ledger_frame,
    ok_count,
    register_district,
    state_engine,
    tenant_scenario,
)
from tests.toolkit import Sis, run_sync

SETTING = "Use Grade When Posting Secondary Gradebook Assignment Scores"
STUDENTS = 200
CONCURRENCY = 4


def simulator(w: World, *, use_grade: bool = False, latency_ms: int = 0) -> Iterator[Sis]:
    from passback.simulator.faults import FaultConfig
    from passback.simulator.server import SimulatorThread

    write_source(w, get_settings().source_db_url)
    district = tenant_scenario(w, "d1")
    district.settings.use_grade_when_posting = use_grade
    with SimulatorThread(Scenario(districts=[district]), faults=FaultConfig(latency_ms=latency_ms)) as server:
        register_district("d1", server.url, concurrency=CONCURRENCY)
        yield Sis(server.url, server.app)


# -- 4. systemic rejection -------------------------------------------------------------------------
@pytest.fixture
def use_grade_world(home) -> Iterator[tuple[Sis, World]]:
    """2 assessments in Q3 (written first: newest period first) and 2 in Q2, 200 students: 804 results."""
    w = big_world(Q3("n", 2) + Q2("o", 2), STUDENTS)
    for sim in simulator(w, use_grade=True):
        yield sim, w


@pytest.mark.slow
def test_use_grade_setting_stops_the_district_within_25_score_writes(use_grade_world) -> None:
    sim, w = use_grade_world
    summary = run_sync()

    # the district stops, and says why and what to do
    assert summary.status == "failed"
    assert SETTING in summary.error and "uncheck" in summary.error.lower(), summary.error
    assert "API Configuration" in summary.error  # where the setting lives in Skyward

    # what the SIS saw: at most 25 result PUTs, every one refused with the setting's token
    puts = sim.puts("d1", "result")
    assert 1 <= sum(puts.values()) <= 25, puts
    assert set(puts) == {"422"}, puts
    log = [r for r in sim.requests("d1") if r["method"] == "PUT" and "/results/" in r["path"]]
    assert len(log) == sum(puts.values()) and all(r["status"] == 422 for r in log)
    assert summary.results["rejected"] <= 25 and summary.results["created"] == 0

    # lineItems already written stay consistent: the SIS holds exactly the ledger's acknowledged ones,
    # with the payloads the ledger recorded; no result is in either
    state = sim.state("d1")
    assert state["counts"]["results"] == 0 and state["duplicate_line_items"] == 0
    ledger = ledger_frame("d1")
    acked_li = ledger[(ledger["kind"] == "lineItem") & (ledger["status"] == "acked")]
    q3_ids = {line_item_id("d1", a) for a in w.assessments["id"] if a.startswith("n-")}
    assert {li["sourcedId"] for li in state["lineItems"]} == set(acked_li["sourced_id"]) == q3_ids
    assert set(acked_li["grading_period_id"]) == {"gp-q3"}
    assert ok_count(sim.puts("d1", "lineItem")) == len(q3_ids)  # Q2's lineItems were not attempted
    assert not (ledger["kind"] == "result").any()  # systemic: not recorded against the items
    assert "gp-q3" not in store.closed_periods(state_engine(), "d1")  # not mistaken for a closed period

    # once the setting is unchecked, the next run sends everything, once
    sim.admin("POST", "tenants/d1/settings", json={"use_grade_when_posting": False})
    sim.admin("POST", "reset-stats")
    again = run_sync()
    assert again.status == "completed", again.error
    assert again.line_items["unchanged"] == len(q3_ids)
    assert again.writes == (len(w.assessments) - len(q3_ids)) + len(w.scores)
    final = sim.state("d1")
    ids = expected_ids("d1", w)
    assert {li["sourcedId"] for li in final["lineItems"]} == ids["lineItem"]
    assert {r["sourcedId"] for r in final["results"]} == ids["result"]
    assert final["duplicate_line_items"] == 0
    assert ok_count(sim.puts("d1", "lineItem")) == len(w.assessments) - len(q3_ids)


# -- 5. a grading period closed while the load runs ------------------------------------------------
@pytest.fixture
def two_quarters(home) -> Iterator[tuple[Sis, World]]:
    """3 assessments in Q3 (written first) and 2 in Q2, 200 students each; 2 ms of SIS latency."""
    w = big_world(Q3("n", 3) + Q2("o", 2), STUDENTS)
    for sim in simulator(w, latency_ms=2):
        yield sim, w


def _period_items(w: World, prefix: str) -> set[str]:
    rows = w.assessments[w.assessments["id"].str.startswith(prefix)]
    scores = w.scores[w.scores["assessment_id"].isin(rows["id"])]
    return {line_item_id("d1", a) for a in rows["id"]} | {
        result_id("d1", a, s) for a, s in zip(scores["assessment_id"], scores["student_id"], strict=True)
    }


@pytest.mark.slow
def test_grading_period_closed_during_the_run_gets_no_more_writes(two_quarters) -> None:
    sim, w = two_quarters
    q3_items, q2_items = _period_items(w, "n-"), _period_items(w, "o-")
    closer = Watcher(
        probe=lambda: ok_count(sim.puts("d1", "result")) >= 40,
        action=lambda: sim.admin("POST", "tenants/d1/grading-periods/gp-q3/close"),
    )
    closer.start()
    try:
        summary = run_sync()
    finally:
        closer.stop()
    assert closer.error is None and closer.fired.is_set(), "the load ended before gp-q3 could be closed"
    assert summary.status == "completed", summary.error

    # the request log: after the SIS first answered grading_period_closed (a 422 for a Q3 item; Q3's
    # items are otherwise valid), at most the writes already in flight went to Q3
    puts = [r for r in sim.requests("d1") if r["method"] == "PUT"]
    q3_puts = [r for r in puts if item_id_of_path(r["path"]) in q3_items]
    first_closed = next((r["seq"] for r in q3_puts if r["status"] == 422), None)
    assert first_closed is not None, "the SIS never answered grading_period_closed"
    after = [r for r in q3_puts if r["seq"] > first_closed]
    assert len(after) <= CONCURRENCY, f"{len(after)} writes went to the closed period after the SIS said so"
    assert all(r["status"] in (200, 201) for r in puts if r["seq"] < first_closed)
    # Q2 (still open) was written completely, after Q3
    q2_ok = {
        item_id_of_path(r["path"]) for r in puts if r["status"] in (200, 201) and item_id_of_path(r["path"]) in q2_items
    }
    assert q2_ok == q2_items

    # the report: every Q3 item that did not land is reported closed, and the period is remembered
    ledger = ledger_frame("d1")
    acked = ledger[ledger["status"] == "acked"]
    q3_acked = set(acked.loc[acked["grading_period_id"] == "gp-q3", "sourced_id"])
    assert q3_acked < q3_items and len(q3_acked) >= 40
    assert summary.reasons.get("grading_period_closed") == len(q3_items) - len(q3_acked), summary.reasons
    assert set(summary.reasons) == {"grading_period_closed"}
    landed = summary.line_items["created"] + summary.results["created"]
    assert landed == len(acked) == len(q3_acked) + len(q2_items)
    assert summary.results["ineligible"] + summary.line_items["ineligible"] == len(q3_items) - len(q3_acked)
    assert summary.results["failed"] == summary.results["rejected"] == 0
    assert "gp-q3" in store.closed_periods(state_engine(), "d1")
    state = sim.state("d1")
    in_sis = {li["sourcedId"] for li in state["lineItems"]} | {r["sourcedId"] for r in state["results"]}
    assert in_sis == set(acked["sourced_id"])  # SIS and ledger agree
    assert state["duplicate_line_items"] == 0

    # the next run makes no call into the closed period
    sim.admin("POST", "reset-stats")
    again = run_sync()
    assert again.writes == 0 and again.status == "completed"
    assert (
        again.reasons.get("grading_period_closed") == 3
    )  # Q3's three assessments (their scores: assessment_ineligible)
    assert not [r for r in sim.requests("d1") if r["method"] == "PUT"]
