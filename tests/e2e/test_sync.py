"""A district run against the simulator as a real server: what lands in the SIS, and reruns."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest

from passback.settings import get_settings
from passback.store import ledger
from passback.store.db import get_engine
from tests.factory import World, with_students
from tests.toolkit import UTC_NOW, Sis, rewrite_source, run_sync


def test_first_sync_writes_everything_and_the_rerun_writes_nothing(sis: Sis) -> None:
    first = run_sync()
    assert first.status == "completed", first.error
    assert first.line_items["created"] == 2 and first.results["created"] == 4
    assert first.reasons.get("assigner_not_in_group") == 1 and first.reasons.get("assessment_ineligible") == 2
    state = sis.state()
    assert len(state["lineItems"]) == 2 and len(state["results"]) == 4 and state["duplicate_line_items"] == 0
    by_title = {li["title"]: li for li in state["lineItems"]}
    assert float(by_title["Fractions quiz"]["resultValueMax"]) == 10.0
    assert by_title["Lab report"]["category"]["sourcedId"] == "cat-lab"
    assert sorted(float(r["score"]) for r in state["results"]) == [7.0, 7.0, 9.5, 9.5]

    second = run_sync()
    assert second.status == "completed" and second.writes == 0
    assert second.line_items["unchanged"] == 2 and second.results["unchanged"] == 4

    # where the run's time went: every stage it went through, in seconds of wall time
    stages = ["pre-flight", "extract", "validate and plan", "guards", "load", "report"]
    assert list(first.stage_seconds)[: len(stages)] == stages  # in order, then evaluate's own parts
    assert {"validate", "transform", "diff"} <= set(first.stage_seconds)
    dry = run_sync(dry_run=True)
    assert "load" not in dry.stage_seconds and "report" in dry.stage_seconds  # a dry run has no load stage
    for summary in (first, second, dry):
        top = [summary.stage_seconds[name] for name in stages if name in summary.stage_seconds]
        assert all(s >= 0 for s in summary.stage_seconds.values())
        assert sum(top) <= summary.run_seconds  # the stages are within the run, the lock and the record around them
        assert summary.stage_seconds["validate"] <= summary.stage_seconds["validate and plan"]


def test_a_run_keeps_the_collector_off_the_heap_it_started_with_and_gives_it_back(sis: Sis) -> None:
    """The heap a run starts with is frozen for the run (no full collection walks the imports
    again) and unfrozen when the last overlapping run ends, also when a run fails."""
    from passback.sync.district import RunOptions
    from passback.sync.sequence import Steps, frozen_heap, run_district

    seen: list[int] = []

    class Watch(Steps):
        async def extract(self, run: Any) -> Any:
            seen.append(gc.get_freeze_count())
            return await super().extract(run)

    class Broken(Watch):
        async def evaluate(self, run: Any, source: Any, sis: Any) -> Any:
            raise RuntimeError("evaluate broke")

    options = RunOptions(utc_now=UTC_NOW, build_docs=False)
    assert gc.get_freeze_count() == 0
    assert asyncio.run(run_district("d1", options, Watch())).status == "completed"
    assert seen[-1] > 0 and gc.get_freeze_count() == 0
    assert asyncio.run(run_district("d1", options, Broken())).status == "failed"
    assert seen[-1] > 0 and gc.get_freeze_count() == 0

    # overlapping runs: the first to start freezes, only the last to end unfreezes
    # (the frozen count only falls while frozen: frozen objects that die leave it)
    with frozen_heap():
        frozen = gc.get_freeze_count()
        made_during_the_run = [[] for _ in range(1000)]  # a second freeze would add these
        with frozen_heap():
            assert 0 < gc.get_freeze_count() <= frozen
        assert 0 < gc.get_freeze_count() <= frozen  # the inner run ended, the outer still runs
        del made_during_the_run
    assert gc.get_freeze_count() == 0


def test_changes_resend_only_what_changed(sis: Sis, factory_world: World) -> None:
    run_sync()
    w = factory_world
    w.assessments.loc[w.assessments["id"] == "a-1", "title"] = "Fractions quiz v2"
    w.scores.loc[(w.scores["assessment_id"] == "a-2") & (w.scores["student_id"] == "u-s1"), "points_earned"] = 8.0
    rewrite_source(w)
    summary = run_sync()
    assert (summary.line_items["updated"], summary.results["updated"], summary.writes) == (1, 1, 2)
    titles = {li["title"] for li in sis.state()["lineItems"]}
    assert "Fractions quiz v2" in titles


def test_teacher_added_then_removed_then_re_added(sis: Sis, factory_world: World) -> None:
    run_sync()
    w = factory_world
    w.group_members.loc[len(w.group_members)] = {"district_id": "d1", "user_id": "u-t2"}
    rewrite_source(w)
    added = run_sync()
    assert (added.line_items["created"], added.results["created"]) == (1, 2)
    w.group_members.drop(w.group_members[w.group_members["user_id"] == "u-t2"].index, inplace=True)
    rewrite_source(w)
    removed = run_sync()
    assert removed.writes == 0
    assert len(sis.state()["lineItems"]) == 3  # nothing deleted
    w.group_members.loc[len(w.group_members) + 1] = {"district_id": "d1", "user_id": "u-t2"}
    rewrite_source(w)
    assert run_sync().writes == 0  # re-added, nothing changed meanwhile


def test_sis_rejection_is_recorded_and_not_retried_until_asked(home, factory_world: World) -> None:
    from passback.scenario import Scenario
    from passback.simulator.server import SimulatorThread
    from tests.factory import scenario_for, write_source
    from tests.toolkit import register

    write_source(factory_world, get_settings().source_db_url)
    district = scenario_for(factory_world)
    district.enrollments = [e for e in district.enrollments if e.userSourcedId != "sky-s2"]  # not in the SIS class
    with SimulatorThread(Scenario(districts=[district])) as server:
        register("d1", server.url)
        first = run_sync()
        assert first.status == "completed"
        assert (first.results["created"], first.results["rejected"]) == (2, 2)
        assert all("enrolled" in r["message"] for r in first.rejected)
        engine = get_engine(get_settings().state_db_url)
        assert ledger.ledger_counts(engine, "d1")["result"] == {"acked": 2, "rejected": 2}
        second = run_sync()
        assert second.writes == 0 and second.results["rejected"] == 2  # held: not retried
        retried = run_sync(retry_rejected=True)
        assert retried.writes == 2 and retried.results["rejected"] == 2


def test_use_grade_setting_stops_the_district_after_a_few_writes(home, factory_world: World) -> None:
    from passback.scenario import Scenario
    from passback.simulator.server import SimulatorThread
    from tests.factory import scenario_for, write_source
    from tests.toolkit import register

    w = with_students(factory_world, 60)
    write_source(w, get_settings().source_db_url)
    district = scenario_for(w)
    district.settings.use_grade_when_posting = True
    with SimulatorThread(Scenario(districts=[district])) as server:
        register("d1", server.url)
        summary = run_sync()
        state = Sis(server.url).state()
    assert summary.status == "failed"
    assert "Use Grade When Posting Secondary Gradebook Assignment Scores" in summary.error
    assert summary.results["rejected"] <= 25
    assert len(state["lineItems"]) == 2 and not state["results"]  # lineItems stay consistent
    engine = get_engine(get_settings().state_db_url)
    assert ledger.ledger_counts(engine, "d1").get("result", {}) == {}  # systemic: not the items' fault


def test_a_grading_period_the_sis_flags_closed_gets_no_writes(sis: Sis) -> None:
    sis.admin("POST", "tenants/d1/grading-periods/gp-q2/close")
    summary = run_sync()
    assert summary.writes == 0  # known from the pre-flight read: nothing is even attempted
    assert summary.reasons.get("grading_period_closed") == 2
    assert not sis.state()["lineItems"]


def test_revoked_credentials_stop_the_district_with_a_rotation_message(sis: Sis) -> None:
    sis.admin("POST", "tenants/d1/clients/otus-d1/revoke")
    summary = run_sync()
    assert summary.status == "failed"
    assert "d1" in summary.error and "rotate" in summary.error.lower()
    assert "factory-secret" not in summary.error


def test_two_runs_of_one_district_never_overlap(sis: Sis) -> None:
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(run_sync())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert sum(r.writes for r in results) == 6  # written once, whichever way the two met
    for refused in (r for r in results if r.run_id is None):  # the lock was taken: exited before writing anything
        assert refused.status == "failed"
        assert "being synced by another run" in refused.error and "nothing was written" in refused.error
    assert sis.state()["duplicate_line_items"] == 0


def test_an_item_that_outlives_its_retries_leaves_the_run_partial_and_the_rerun_sends_it(
    sis: Sis, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from passback.sync import district as module

    class FailOneResult(httpx.AsyncBaseTransport):
        """The real network, except that the first result written always gets a 503."""

        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()
            self.target: str | None = None

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT" and "/results/" in request.url.path:
                self.target = self.target or request.url.path
                if request.url.path == self.target:
                    return httpx.Response(
                        503,
                        json={"imsx_codeMajor": "failure", "imsx_severity": "error", "imsx_codeMinor": "server_busy"},
                    )
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    original = module.client_for
    monkeypatch.setattr(module, "client_for", lambda d, transport=None: original(d, transport=FailOneResult()))
    first = run_sync()
    assert first.status == "partial" and first.results["failed"] == 1 and first.backlog == 1
    assert len(sis.state()["results"]) == 3
    monkeypatch.setattr(module, "client_for", original)
    second = run_sync()  # not in the ledger: the next run sends it
    assert second.status == "completed" and second.writes == 1 and second.backlog == 0
    assert len(sis.state()["results"]) == 4
