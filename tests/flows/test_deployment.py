"""A real Prefect server on loopback, the deployments from prefect.yaml, a process worker, and the
nightly deployment run end to end against the simulator (the Prefect UI's path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import as_district, merge, scenario_for, world, write_source
from tests.prefect_stack import PrefectStack, prefect
from tests.toolkit import Sis, register


@pytest.mark.slow
def test_nightly_deployment_runs_on_a_worker(home: Path, tmp_path: Path) -> None:
    from passback.simulator.server import SimulatorThread
    from passback.store.db import get_engine
    from passback.store.runs import recent_runs

    worlds = {"d1": world(), "d2": as_district(world(), "d2")}
    write_source(merge(*worlds.values()), get_settings().source_db_url)
    with SimulatorThread(Scenario(districts=[scenario_for(w, tenant=t) for t, w in worlds.items()])) as sim:
        register("d1", sim.url)
        register("d2", sim.url)
        stack = PrefectStack(home, tmp_path / "prefect")
        try:
            out = prefect(stack.env, "deployment", "run", "nightly-passback/nightly", "--param", "max_concurrency=2")
            flow_run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
            state = stack.wait(flow_run_id, timeout=300)
            assert state["type"] == "COMPLETED", state
            for tenant in ("d1", "d2"):
                stored = Sis(sim.url).state(tenant)
                assert len(stored["lineItems"]) == 1 and len(stored["results"]) == 1
                assert stored["duplicate_line_items"] == 0
            runs = stack.post("/flow_runs/filter", {}).json()
            assert sum(r["name"].startswith("district-") for r in runs) == 2  # dispatched to the district deployment
            children = {r["id"] for r in runs if r["name"].startswith("district-")}
            engine = get_engine(get_settings().state_db_url)
            recorded = {d: recent_runs(engine, d, 1)[0] for d in ("d1", "d2")}
            assert {r.flow_run_id for r in recorded.values()} == children  # each child recorded its own flow run id
        finally:
            stack.close()
