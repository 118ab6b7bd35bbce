"""A real Prefect server on loopback, the deployments from prefect.yaml, a process worker, and the
nightly deployment run end to end against the simulator (the Prefect UI's path)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import as_district, merge, scenario_for, world, write_source
from tests.toolkit import Sis, register

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_nightly_deployment_runs_on_a_worker(home: Path, tmp_path: Path) -> None:
    from passback.simulator.server import SimulatorThread

    worlds = {"d1": world(), "d2": as_district(world(), "d2")}
    write_source(merge(*worlds.values()), get_settings().source_db_url)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(
        os.environ,
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PASSBACK_HOME=str(home),
        PREFECT_LOGGING_LEVEL="INFO",
    )
    env.pop("PASSBACK_STATE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail("the Prefect server did not become healthy in 120 s")
        prefect(env, "work-pool", "create", "passback", "--type", "process")
        prefect(env, "--no-prompt", "deploy", "--all")
        with SimulatorThread(Scenario(districts=[scenario_for(w, tenant=t) for t, w in worlds.items()])) as sim:
            register("d1", sim.url)
            register("d2", sim.url)
            out = prefect(env, "deployment", "run", "nightly-passback/nightly", "--param", "max_concurrency=2")
            flow_run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
            worker = subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", "passback", "--limit", "4"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            state = None
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                run = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10).json()
                state = run["state"]["type"]
                if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    break
                time.sleep(2)
            assert state == "COMPLETED", json.dumps(run.get("state"), indent=1)
            for tenant in ("d1", "d2"):
                stored = Sis(sim.url).state(tenant)
                assert len(stored["lineItems"]) == 1 and len(stored["results"]) == 1
                assert stored["duplicate_line_items"] == 0
            runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
            assert sum(r["name"].startswith("district-") for r in runs) == 2  # dispatched to the district deployment
            children = {r["id"] for r in runs if r["name"].startswith("district-")}
            from passback.store.db import get_engine
            from passback.store.runs import recent_runs

            engine = get_engine(get_settings().state_db_url)
            recorded = {d: recent_runs(engine, d, 1)[0] for d in ("d1", "d2")}
            assert {r.flow_run_id for r in recorded.values()} == children  # each child recorded its own flow run id
    finally:
        for proc in (worker, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
