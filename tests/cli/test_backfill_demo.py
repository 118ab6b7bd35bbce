"""`passback backfill` (preview, then apply) and `passback demo` (twice: the second run writes nothing; then
explored after it exited: `sim serve` with no arguments serves its world again).
The demo's first run is a child process on a machine without a Prefect server (the CLI starts Prefect's
temporary API, as for a newcomer); the other commands go through ``cli()`` in this process, on the
session's Prefect API (same commands and output, without a new interpreter importing Prefect and GX)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from passback.settings import get_settings
from passback.simulator.server import SimulatorThread, wait_healthy
from passback.store import districts as store
from passback.store.db import get_engine
from tests.toolkit import REPO, cli, register, running_sis, small_world


def effective_date() -> dt.date:
    return store.get_district(get_engine(get_settings().state_db_url), "d1").effective_date


def test_backfill_previews_without_writing_then_applies(home: Path, prefect_harness: None) -> None:
    with running_sis(small_world()) as sis:
        register("d1", sis.url, effective_date=dt.date(2026, 11, 5))  # a-1, a-2 (assigned 11-02) are before it

        preview = cli("backfill", "d1", "--effective-date", "2026-08-17")
        assert preview.code == 0, preview.err
        assert "would write 2 new lineItems (0 updated) and 4 new results (0 updated)" in preview.out
        assert "Nothing was changed" in preview.out and "--apply" in preview.out
        assert (
            "Assessments newly eligible: 2, newly held back: 0" in preview.out and "newly eligible (2)" in preview.out
        )
        listed = [line for line in preview.out.splitlines() if line.startswith("│ a-")]
        assert sorted(line.split()[1] for line in listed) == [
            "a-1",
            "a-2",
        ]  # not a-3: held by the group rule either way
        assert all("before_effective_date" in line and "eligible" in line for line in listed)
        assert sis.state()["lineItems"] == [] and effective_date() == dt.date(2026, 11, 5)

        applied = cli("backfill", "d1", "--effective-date", "2026-08-17", "--apply")
        assert applied.code == 0, applied.err
        assert "wrote 2 new lineItems (0 updated) and 4 new results (0 updated)" in applied.out
        state = sis.state()
        assert len(state["lineItems"]) == 2 and len(state["results"]) == 4
        assert effective_date() == dt.date(2026, 8, 17)


def summary_rows(out: str) -> dict[str, dict[str, int]]:
    """The demo's summary table: {kind: {outcome: n}} (rich table rows start with │)."""
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in out.splitlines() if line.startswith("│")]
    header = [
        "district",
        "status",
        "kind",
        "created",
        "updated",
        "unchanged",
        "ineligible",
        "rejected",
        "failed",
        "pending",
    ]
    return {r[2]: {k: int(v) for k, v in zip(header[3:], r[3:], strict=True)} for r in rows if len(r) == len(header)}


def ledger_snapshot(home: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "state.db") as conn:
        return conn.execute(
            "SELECT kind, assessment_id, student_id, payload_hash, status, updated_at FROM ledger_entry "
            "ORDER BY kind, assessment_id, student_id"
        ).fetchall()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_runs_twice_writes_nothing_the_second_time_and_can_be_explored_after_it_exits(
    home: Path, cli_process: Any, prefect_home: Path
) -> None:
    port = free_port()
    first = cli_process("demo", "--port", str(port), ephemeral=True)  # as a newcomer runs it: no Prefect server
    assert first.code == 0, first.err
    assert "Seeded the demo: 1 district with" in first.out and "{" not in first.out  # a sentence, not a dict
    assert f"Skyward simulator (the demo district's SIS) on http://127.0.0.1:{port}" in first.out
    one = summary_rows(first.out)
    assert one["lineItems"]["created"] > 0 and one["results"]["created"] > 0
    assert one["lineItems"]["failed"] == one["results"]["failed"] == 0
    assert "Run `passback demo` again" in first.out  # it wrote: the rerun has something to show
    for command in (
        "passback sim serve",
        "passback doctor demo",
        "passback explain demo",
        "passback sync --district demo --dry-run",
    ):
        assert command in first.out  # the last lines say what to try next
    ledger = ledger_snapshot(home)

    second = cli("demo", "--port", str(port))
    assert second.code == 0, second.err
    assert "reusing it" in second.out and "no changes since the last sync — nothing written" in second.out
    assert (
        "Run `passback demo` again" not in second.out
    )  # no "rerun to see a run that writes nothing" after one that wrote nothing
    two = summary_rows(second.out)
    for kind in ("lineItems", "results"):
        assert two[kind]["created"] == two[kind]["updated"] == 0
        assert two[kind]["unchanged"] == one[kind]["created"]
    assert ledger_snapshot(home) == ledger  # no acknowledgement recorded: nothing was sent

    with SimulatorThread(db_path=str(home / "simulator.db")) as sim:  # the demo's SIS, as it was left
        state = httpx.get(f"{sim.url}/admin/state", params={"tenant": "demo"}, timeout=30).json()
    assert len(state["lineItems"]) == one["lineItems"]["created"]
    assert len(state["results"]) == one["results"]["created"]
    assert state["duplicate_line_items"] == 0

    # explored after it exited
    example = re.search(r"passback explain demo (\S+)", first.out).group(1)  # an assessment the demo suggests
    started = time.monotonic()
    down = cli("doctor", "demo")  # the demo's simulator stopped with it
    assert down.code == 1 and "the simulator is not running? `passback sim serve`" in down.out
    dry = cli("sync", "--district", "demo", "--dry-run")
    assert dry.code == 1 and "the simulator is not running? `passback sim serve`" in dry.err
    assert time.monotonic() - started < 40  # no retries of a SIS that never answered (they took ~50 s each)

    env = {**os.environ, "PASSBACK_HOME": str(home), "PREFECT_HOME": str(prefect_home)}
    sim = subprocess.Popen(
        [sys.executable, "-m", "passback", "sim", "serve"],
        cwd=REPO,
        env=env,  # no arguments
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", 60, lambda: sim.poll() is None)
        doctor = cli("doctor", "demo")
        assert doctor.code == 0, doctor.out  # the demo's own mapping passes its own doctor
        assert "✘" not in doctor.out and doctor.out.count("✔") == 8
        explained = cli("explain", "demo", example)
        assert explained.code == 0, explained.err
        assert example in explained.out and "title_too_long" in explained.out
        preview = cli("sync", "--district", "demo", "--dry-run", "--json")
        assert preview.code == 0, preview.err
        result = json.loads(preview.out)["districts"][0]
        assert result["status"] == "planned" and result["line_items"]["created"] == 0  # the demo synced it all
        assert result["line_items"]["unchanged"] > 0
    finally:
        sim.terminate()
        sim.wait(timeout=30)


def test_kill_9_of_the_demo_takes_its_simulator_with_it(home: Path, prefect_home: Path) -> None:
    from tests.reliability.test_ephemeral import alive, children

    port = free_port()
    env = {**os.environ, "PASSBACK_HOME": str(home), "PREFECT_HOME": str(prefect_home)}
    env.pop("PREFECT_API_URL", None)
    demo = subprocess.Popen(
        [sys.executable, "-m", "passback", "demo", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    family: list[int] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}", 180, lambda: demo.poll() is None)  # the demo's simulator serves
        family = children(demo.pid)
        os.kill(demo.pid, signal.SIGKILL)
        demo.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in family):
            time.sleep(0.1)
        assert [p for p in family if alive(p)] == []
        try:
            httpx.get(f"http://127.0.0.1:{port}/admin/health", timeout=1)
            answered = True
        except httpx.HTTPError:
            answered = False
        assert not answered  # nothing serves the demo's port any more
    finally:  # whatever happened, nothing this test started runs on
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in family:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
