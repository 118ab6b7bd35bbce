"""A real Prefect server on loopback, the deployments from prefect.yaml, a process worker, and the
nightly deployment run end to end against the simulator (the Prefect UI's path).  The stack is the
session's (``prefect_stack``): other modules' districts are registered in its home too, so the run
names this module's districts, as an operator does for a partial night."""

from __future__ import annotations

import json

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import as_district, merge, scenario_for, world, write_source
from tests.prefect_stack import PrefectStack, passback_home, prefect
from tests.toolkit import Sis, register

DISTRICTS = ("d1", "d2")


@pytest.mark.slow
def test_nightly_deployment_runs_on_a_worker(prefect_stack: PrefectStack) -> None:
    from passback.simulator.server import SimulatorThread
    from passback.store.db import get_engine
    from passback.store.runs import recent_runs

    stack = prefect_stack
    with passback_home(stack.home):
        worlds = {"d1": world(), "d2": as_district(world(), "d2")}
        write_source(merge(*worlds.values()), get_settings().source_db_url)
        with SimulatorThread(Scenario(districts=[scenario_for(w, tenant=t) for t, w in worlds.items()])) as sim:
            for d in DISTRICTS:
                register(d, sim.url)
            out = prefect(
                stack.env,
                "deployment",
                "run",
                "nightly-passback/nightly",
                "--param",
                "max_concurrency=2",
                "--param",
                f"districts={json.dumps(list(DISTRICTS))}",
            )
            flow_run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
            state = stack.wait(flow_run_id, timeout=300)
            assert state["type"] == "COMPLETED", state
            for tenant in DISTRICTS:
                stored = Sis(sim.url).state(tenant)
                assert len(stored["lineItems"]) == 1 and len(stored["results"]) == 1
                assert stored["duplicate_line_items"] == 0
            runs = stack.post("/flow_runs/filter", {}).json()
            children = {
                r["id"]
                for r in runs
                if r["name"].startswith("district-") and r["parameters"].get("district_id") in DISTRICTS
            }
            assert len(children) == 2  # dispatched to the district deployment, one run per district
            engine = get_engine(get_settings().state_db_url)
            recorded = {d: recent_runs(engine, d, 1)[0] for d in DISTRICTS}
            assert {r.flow_run_id for r in recorded.values()} == children  # each child recorded its own flow run id
