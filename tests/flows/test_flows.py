"""The Prefect flows over the library, against the simulator on loopback (temporary Prefect API)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import as_district, merge, scenario_for, world, write_source
from tests.toolkit import Sis, register


@pytest.fixture
def three_districts(home, state_url):
    """Three districts on one simulator (tenants d1, d2, d3), each with its own credentials."""
    from passback.simulator.server import SimulatorThread

    worlds = {t: world() if t == "d1" else as_district(world(), t) for t in ("d1", "d2", "d3")}
    write_source(merge(*worlds.values()), get_settings().source_db_url)
    tenants = []
    for t, w in worlds.items():
        d = scenario_for(w, tenant=t)
        tenants.append(d)
    with SimulatorThread(Scenario(districts=tenants)) as server:
        for t in ("d1", "d2", "d3"):
            register(t, server.url)
        yield Sis(server.url)


def run(coro):
    return asyncio.run(coro)


def test_nightly_runs_every_district_and_one_failure_does_not_stop_the_others(
    prefect_harness, three_districts: Sis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.nightly import nightly
    from passback.sync import helper

    monkeypatch.setattr(helper, "MIN_ROWS", 1)  # the world's few rows count as a real district's

    three_districts.admin("POST", "tenants/d2/clients/otus-d1/revoke")
    by_helper = helper.done_by_helper
    state = run(nightly(max_concurrency=3, return_state=True))
    assert state.is_failed()
    assert "1 of 3 districts failed" in state.message and "d2" in state.message
    data = state.result(raise_on_failure=False)
    by_id = {d["district"]: d for d in data["districts"]}
    assert by_id["d1"]["status"] == by_id["d3"]["status"] == "completed"
    assert by_id["d2"]["status"] == "failed" and "rotate" in by_id["d2"]["error"]
    assert by_id["d2"]["error"] in state.message  # the whole error, not cut
    # the source world's one assessment was written to both healthy districts, not to d2
    assert len(three_districts.state("d1")["lineItems"]) == 1
    assert len(three_districts.state("d3")["lineItems"]) == 1
    assert len(three_districts.state("d2")["lineItems"]) == 0
    # three at once: the healthy districts were classified and their reports written by the helper process
    assert helper.done_by_helper == by_helper + 4
    assert all(Path(by_id[d]["data_docs"]).exists() for d in ("d1", "d3"))


def test_backfill_previews_then_applies(prefect_harness, three_districts: Sis) -> None:
    from flows.backfill import backfill
    from passback.store.db import get_engine
    from passback.store.districts import get_district

    engine = get_engine(get_settings().state_db_url)
    from passback.store.districts import update_district

    update_district(engine, "d1", effective_date=dt.date(2026, 11, 10))  # after the assessment's assign date
    preview = run(backfill("d1", dt.date(2026, 10, 19), dry_run=True, return_state=True))
    data = preview.result()
    assert data["line_items"]["created"] == 1 and data["status"] == "planned"
    assert data["kind"] == "backfill" and data["detail"] == "2026-10-19"
    assert data["backfill"]["totals"]["newly_eligible"] == 1 and data["backfill"]["newly_held"] == []
    assert "lineItems 1 created" in preview.message  # the state message carries the counts
    assert get_district(engine, "d1").effective_date == dt.date(2026, 11, 10)  # unchanged
    assert not three_districts.state("d1")["lineItems"]
    applied = run(backfill("d1", dt.date(2026, 10, 19), dry_run=False, return_state=True))
    assert applied.result()["line_items"]["created"] == 1
    assert get_district(engine, "d1").effective_date == dt.date(2026, 10, 19)
    assert len(three_districts.state("d1")["lineItems"]) == 1


def test_a_district_run_publishes_its_summary_and_a_link_to_its_report(
    prefect_harness, three_districts: Sis, home, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client

    from flows.district_sync import district_sync
    from passback.settings import reset_settings

    monkeypatch.setenv("PASSBACK_REPORT_BASE_URL", "https://reports.example/pb/")
    reset_settings()
    state = run(district_sync("d1", return_state=True))
    data = state.result()
    assert data["data_docs"].startswith("https://reports.example/pb/d1/runs/") and data["data_docs"].endswith(
        "/index.html"
    )
    assert "lineItems 1 created" in state.message and "results 1 created" in state.message

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    flow_run = state.state_details.flow_run_id
    mine = {a.key: a for a in run(artifacts()) if a.flow_run_id == flow_run and a.key}
    assert data["data_docs"] in str(mine["passback-d1-report"].data)  # the link artifact
    summary = str(mine["passback-d1"].data)
    assert "**completed**" in summary and data["data_docs"] in summary and str(home) not in summary
