"""`passback seed` (synthetic Otus data + SIS scenario) and `passback sim serve` (the simulator as a process)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from passback.scenario import Scenario
from tests.factory import scenario_for
from tests.toolkit import REPO, cli, small_world


def test_seed_writes_the_otus_source_and_the_matching_sis_scenario(home: Path) -> None:
    ran = cli("seed", "--preset", "demo", "--seed", "3")
    assert ran.code == 0, ran.err
    assert (
        "Seeded demo: 1 district with" in ran.out and "{" not in ran.out and "passback sim serve --scenario" in ran.out
    )
    scenario = Scenario.load(home / "scenario.json")
    assert [d.tenant for d in scenario.districts] == ["demo"]
    with sqlite3.connect(home / "otus.db") as conn:
        assessments = conn.execute("SELECT COUNT(*) FROM otus_assessments").fetchone()[0]
        classes = {r[0] for r in conn.execute("SELECT sis_id FROM otus_classes WHERE sis_id IS NOT NULL")}
    assert assessments == 60  # the demo preset: 3 classes x 20
    assert classes <= {c.sourcedId for c in scenario.districts[0].classes}


def test_sim_serve_starts_on_a_free_port_answers_health_and_stops(home: Path, tmp_path: Path) -> None:
    scenario_path = tmp_path / "scenario.json"
    Scenario(districts=[scenario_for(small_world())]).save(scenario_path)
    env = {**os.environ, "PASSBACK_HOME": str(home)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "passback",
            "sim",
            "serve",
            "--port",
            "0",
            "--scenario",
            str(scenario_path),
            "--db",
            ":memory:",
        ],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "sim serve exited before listening"
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
        assert url is not None and not url.endswith(":0")
        health = httpx.get(f"{url}/admin/health", timeout=10).json()
        assert health["status"] == "ok" and health["tenants"] == ["d1"]
        token = httpx.post(
            f"{url}/d1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("otus-d1", "factory-secret-0123456789"),
            timeout=10,
        )
        assert token.status_code == 200 and token.json()["token_type"] == "bearer"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, -15)
    assert "Skyward simulator on 127.0.0.1, a free port" in out
