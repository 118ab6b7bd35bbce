"""A broken or hostile SIS never costs a grade, a secret, or the night (issue 11, the client side).

One small world (5 assessments in two grading periods, 30 students: 155 writes) on one simulator
process; for each hostile behaviour of the simulator (``docs/simulator.md``, "Hostile faults"):

* a real sync with the fault on (the library path, ``sync_district``; for the oversized body in a
  child process whose RSS growth during the run is measured) ends within a bound of time (and of
  memory) with ONE clear district failure naming the district and the likely cause;
* nothing wrong in the ledger: every acknowledged row is in the SIS with the payload it hashes
  (stored-but-unrecorded writes are allowed: at most the requests in flight);
* a rerun against the healthy SIS sends exactly what the ledger does not hold (the simulator's
  request log) and ends with the clean run's gradebook;
* the secret appears nowhere: the output and every log record (DEBUG, every logger), the summary,
  the state DB's bytes.

The token endpoint that echoes the credentials in a 200 error is run through the CLI (``passback
sync`` in a child process on the session's Prefect API, and ``passback doctor``): the secret is also
absent from every file of that API's database (flow and task run states, logs, artifacts), of
Prefect's home and of passback's home (the SIS's own files — the scenario with the secret, its DB —
live elsewhere).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from passback.redaction import secret_forms
from passback.scenario import Scenario
from passback.settings import get_settings, reset_settings
from passback.simulator.hostile import LOGIN_HOST
from passback.store import districts as store
from passback.store.db import forget_engines
from tests.factory import write_source
from tests.reliability import _world as W
from tests.reliability._districts import (
    Q2,
    Q3,
    big_world,
    client_id_of,
    register_district,
    secret_of,
    state_engine,
    tenant_scenario,
)
from tests.toolkit import UTC_NOW, run_sync

D = "d1"
STUDENTS = 30
CONCURRENCY = 4
DEADLINE_S = 2.0  # the district's request timeout while a body drips: each request ends by then
OVERSIZE_MB = 400
RSS_GROWTH_MB = 150  # the oversized run's RSS may grow this much (the size limit is 32 MB; unbounded: 2 × 400 MB)
OFF = dict(
    html_write_rate=0.0,
    foreign_json_rate=0.0,
    redirect_rate=0.0,
    phantom_write_rate=0.0,
    html_token=False,
    echo_credentials=False,
    drip_rate=0.0,
    oversize_rate=0.0,
    endless_next_links=False,
    lying_total_count=False,
    control_chars=False,
    seed=None,
)


@dataclass
class Bed:
    home: Path
    sis: W.Sis
    scenario_path: Path
    reference: dict[tuple[str, str], str]
    needles: list[bytes] = field(default_factory=list)

    def reset(self) -> None:
        self.sis.faults(**OFF)
        self.sis.admin("POST", f"tenants/{D}/settings", json={"use_grade_when_posting": False})
        self.sis.reset_gradebook(self.scenario_path)
        W.reset_state(D)

    def leaks(self, data: bytes) -> list[str]:
        return [n.decode()[:10] + "…" for n in self.needles if n in data]


@dataclass
class Run:
    summary: dict[str, Any]
    seconds: float
    rss_growth_mb: float = 0.0  # during the run (a child process: only the oversized body)
    output: bytes = b""


# a child that measures its own peak RSS before and after the run (everything the run needs imported)
CHILD = """
import json, resource, sys
import passback.oneroster, passback.sync.district, passback.source.read
from tests.reliability import _world
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rc = _world.main(sys.argv[1:])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rss_growth_kb": after - before}), flush=True)
sys.exit(rc)
"""


def sync_child(bed: Bed, name: str) -> Run:
    cmd = [sys.executable, "-c", CHILD, *W.sync_args(D, UTC_NOW)]
    started = time.monotonic()
    rc, _, _ = W.finish(W.spawn(cmd, bed.home / name))
    lines = [json.loads(line) for line in (bed.home / f"{name}.out").read_text().splitlines() if line.startswith("{")]
    output = (bed.home / f"{name}.out").read_bytes() + (bed.home / f"{name}.err").read_bytes()
    assert len(lines) == 2 and rc == 1, output.decode(errors="replace")[-3000:]
    return Run(lines[0], time.monotonic() - started, lines[1]["rss_growth_kb"] / 1024, output)


def state_db_bytes() -> bytes:
    """Every byte of the state DB (with its -wal and -shm).  This process's engines are disposed
    first: opening and closing a SQLite file with plain file I/O drops every POSIX lock the process
    holds on it, and another process may then reset the WAL under a live connection ("disk I/O
    error", stale reads)."""
    forget_engines()
    path = Path(get_settings().state_db_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def sync_here(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Run:
    caplog.clear()
    started = time.monotonic()
    summary = run_sync(D)
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    output = "\n".join([captured.out, captured.err, caplog.text, *(r.getMessage() for r in caplog.records)])
    return Run(summary.as_json(), seconds, 0.0, output.encode())


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    from passback.simulator.server import SimulatorProcess

    base = tmp_path_factory.mktemp("hostile")
    home, sis_dir = base / "home", base / "sis"  # passback's files; the SIS's (its scenario holds the secret)
    home.mkdir()
    sis_dir.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PASSBACK_STATE_URL", "PASSBACK_SOURCE_URL", "PASSBACK_SECRET_KEY", "PASSBACK_DATA_DOCS_DIR"):
            mp.delenv(var, raising=False)
        mp.setenv("PASSBACK_HOME", str(home))
        reset_settings()
        forget_engines()
        w = big_world(Q3("n", 2) + Q2("o", 3), STUDENTS)
        write_source(w, get_settings().source_db_url)
        scenario_path = sis_dir / "scenario.json"
        Scenario(districts=[tenant_scenario(w, D)]).save(scenario_path)
        with SimulatorProcess(scenario_path, db_path=str(sis_dir / "simulator.db"), port=0) as sim:
            register_district(D, sim.url, concurrency=CONCURRENCY, batch_size=20)
            sis = W.Sis(sim.url)
            clean = run_sync(D)
            assert clean.status == "completed" and clean.writes == len(w.assessments) + len(w.scores), clean.error
            state = sis.state(D)
            assert W.ledger_problems(D, state) == []
            bed = Bed(
                home,
                sis,
                scenario_path,
                W.gradebook(state),
                needles=[f.encode() for f in secret_forms(secret_of(D), client_id_of(D))],
            )
            yield bed
        forget_engines()
        reset_settings()


@dataclass(frozen=True)
class Case:
    name: str
    faults: dict[str, Any]
    said: tuple[str, ...]  # in the district's error
    max_s: float = 30.0  # the run's bound
    use_grade: bool = False  # the SIS refuses every result (a systemic rejection)
    timeout_s: float | None = None  # the district's request timeout for this run
    child: bool = False  # run it in a child process that measures its RSS growth


CASES = [
    Case(
        "html-writes",
        dict(html_write_rate=0.1, seed=3),
        ("district d1 stopped", "an HTML page: a login page or a proxy", "passback district show d1"),
    ),
    Case(
        "foreign-json-writes",
        dict(foreign_json_rate=0.1, seed=3),
        ("district d1 stopped", "JSON that is not a OneRoster", "nothing was recorded"),
    ),
    Case(
        "redirected-writes",
        dict(redirect_rate=0.05, seed=3),
        ("district d1 was redirected (HTTP 307)", LOGIN_HOST, "--base-url"),
    ),
    Case(
        "phantom-writes",
        dict(phantom_write_rate=1.0),
        ("district d1: the SIS acknowledged lineItem", "reading it back", "does not hold what it acknowledges"),
    ),
    Case(
        "html-token",
        dict(html_token=True),
        ("token endpoint", "district d1", "HTML page", "passback district show d1", "--token-url"),
    ),
    Case("endless-next-links", dict(endless_next_links=True), ("district d1", "page budget", "paging does not end")),
    Case(
        "lying-total-count", dict(lying_total_count=True), ("district d1", "lying X-Total-Count", "paging does not end")
    ),
    Case(
        "dripping-body",
        dict(drip_rate=1.0, drip_interval_s=0.5),
        ("district d1", f"{DEADLINE_S:g} s deadline", "--timeout"),
        max_s=2 * DEADLINE_S,
        timeout_s=DEADLINE_S,
    ),
    Case(
        "oversized-body",
        dict(oversize_rate=1.0, oversize_mb=OVERSIZE_MB),
        ("district d1", "larger than the 32 MB limit", "stopped reading"),
        child=True,
    ),
    Case(
        "control-characters",
        dict(control_chars=True),
        ("district d1", "Use Grade When Posting", "\\x1b[2J"),
        use_grade=True,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hostile_sis_costs_no_grade_no_secret_and_not_the_night(
    bed: Bed, case: Case, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    bed.reset()
    if case.timeout_s is not None:
        store.update_district(state_engine(), D, request_timeout_s=case.timeout_s)
    if case.use_grade:
        bed.sis.admin("POST", f"tenants/{D}/settings", json={"use_grade_when_posting": True})
    bed.sis.faults(**case.faults)
    caplog.set_level(logging.DEBUG)  # every logger: passback, httpx, httpcore
    try:
        run = sync_child(bed, case.name) if case.child else sync_here(caplog, capsys)
    finally:
        store.update_district(state_engine(), D, request_timeout_s=30.0)
        bed.sis.faults(**OFF)
        bed.sis.admin("POST", f"tenants/{D}/settings", json={"use_grade_when_posting": False})

    # one clear district failure, in bounded time and memory
    error = run.summary.get("error") or ""
    assert run.summary["status"] == "failed", run.summary
    for words in case.said:
        assert words in error, (words, error)
    assert "\x1b" not in error and "\x07" not in error
    assert run.seconds < case.max_s + (30 if case.child else 0), (run.seconds, error)  # a child: + its start
    assert run.rss_growth_mb < RSS_GROWTH_MB, run.rss_growth_mb

    # nothing wrong in the ledger: every acknowledged row is what the SIS holds
    before = bed.sis.state(D)
    stored = W.gradebook(before)
    problems = W.ledger_problems(D, before)
    false_acks = [p for p in problems if "have no acked ledger row" not in p]
    assert false_acks == [], false_acks
    ledger = W.ledger_snapshot(D).values()  # through the run's own engine (WAL, busy timeout)
    acked = {sid for sid, _, status in ledger if status == "acked"}
    assert all(status == "acked" for _, _, status in ledger)  # no hostile answer (nor a systemic refusal) is a verdict
    unrecorded = {sid for _, sid in stored} - acked
    assert len(unrecorded) <= CONCURRENCY, unrecorded  # at most the writes in flight when the district stopped
    if case.name in (
        "phantom-writes",
        "html-token",
        "endless-next-links",
        "lying-total-count",
        "dripping-body",
        "oversized-body",
    ):
        assert not acked and not stored  # stopped before anything was recorded (or even written)

    # the secret is nowhere
    assert run.output and not bed.leaks(run.output), "output and logs"
    assert not bed.leaks(json.dumps(run.summary).encode())
    assert not bed.leaks(state_db_bytes())

    # a rerun against the healthy SIS sends exactly what the ledger does not hold, and converges
    bed.sis.reset_stats()
    rerun = run_sync(D)
    assert rerun.status == "completed", rerun.error
    puts = [r["path"].rsplit("/", 1)[1] for r in bed.sis.requests(D) if r["method"] == "PUT"]
    reference_ids = {sid for _, sid in bed.reference}
    assert sorted(puts) == sorted(reference_ids - acked)  # each once, none that was recorded
    assert rerun.writes == len(reference_ids - acked)
    after = bed.sis.state(D)
    assert W.diff_gradebooks(W.gradebook(after), bed.reference) == []
    assert W.ledger_problems(D, after) == [] and after["duplicate_line_items"] == 0


@pytest.mark.slow
def test_a_token_endpoint_echoing_the_credentials_leaks_them_nowhere(
    bed: Bed, tmp_path: Path, prefect_api_url: str
) -> None:
    from tests.reliability.test_secrets import files_under
    from tests.toolkit import prefect_db, prefect_mark, prefect_values

    bed.reset()
    bed.sis.faults(echo_credentials=True)
    prefect_home = tmp_path / "prefect-home"
    env = {
        **os.environ,
        "PASSBACK_LOG_LEVEL": "DEBUG",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "passback,httpx,httpcore",
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": prefect_api_url,  # the session's API: its database is prefect_db()
    }
    artifacts = prefect_mark("artifact")
    try:
        synced = subprocess.run(
            [sys.executable, "-m", "passback", "sync", "--json"], capture_output=True, env=env, timeout=300, check=False
        )
        doctor = subprocess.run(
            [sys.executable, "-m", "passback", "doctor", D], capture_output=True, env=env, timeout=120, check=False
        )
        # the token requests (POST; the CLI's reach check GETs the URL first, without credentials)
        echoed = [r for r in bed.sis.requests(D) if r["path"].endswith("/oauth/token") and r["method"] == "POST"]
    finally:
        bed.sis.faults(**OFF)

    assert echoed and all(r["status"] == 200 and r["fault"] == "echo" for r in echoed)  # the SIS did echo them
    assert synced.returncode == 1, synced.stderr.decode(errors="replace")[-3000:]
    summary = json.loads(synced.stdout.decode().strip().splitlines()[-1])
    (district,) = summary["districts"]
    assert district["status"] == "failed" and "credentials rejected" in district["error"]
    assert "rotate" in district["error"] and "[REDACTED]" in district["error"]  # the SIS's words, redacted
    assert doctor.returncode == 1 and b"credentials" in doctor.stdout
    for name, data in (
        ("sync stdout", synced.stdout),
        ("sync stderr", synced.stderr),
        ("doctor stdout", doctor.stdout),
        ("doctor stderr", doctor.stderr),
    ):
        assert not bed.leaks(data), name

    prefect_files = files_under(prefect_db().parent, prefect_home)
    # the run stored the district's artifact (its summary, with the error) in that database: the scan sees it
    assert f"passback-{D}" in prefect_values("artifact", "key", artifacts)
    assert any(f"passback-{D}".encode() in p.read_bytes() for p in prefect_files)
    forget_engines()  # no SQLite connection of ours open while we read its files (see state_db_bytes)
    for path in prefect_files + files_under(bed.home):
        assert not bed.leaks(path.read_bytes()), path
    assert not W.ledger_snapshot(D)  # nothing written, nothing recorded
    with state_engine().connect() as conn:
        rows = conn.execute(text("SELECT kind, status, error FROM run WHERE district_id = :d"), {"d": D}).fetchall()
    assert any(error and "credentials rejected" in error for _, _, error in rows), rows


@pytest.mark.slow
@pytest.mark.parametrize(
    ("knob", "check", "said"),
    [
        (dict(html_write_rate=1.0), "licence and write scope", "an HTML page: a login page or a proxy"),
        (dict(html_token=True), None, "token endpoint"),
    ],
)
def test_doctor_does_not_take_a_login_page_for_a_sis(
    bed: Bed, knob: dict[str, Any], check: str | None, said: str
) -> None:
    from passback.oneroster import OneRosterError
    from passback.sync.district import DistrictRun, RunOptions
    from passback.sync.doctor import run_checks

    bed.reset()
    bed.sis.faults(**knob)
    try:
        checks = asyncio.run(run_checks(DistrictRun(D, RunOptions(dry_run=True)), 1))
    except OneRosterError as exc:  # the CLI shows it as the failed "SIS reachable" check
        assert check is None and said in str(exc) and "passback district show d1" in str(exc)
        return
    finally:
        bed.sis.faults(**OFF)
    (probe,) = [c for c in checks if c.name == check]
    assert not probe.ok and said in probe.detail and "--base-url" in probe.fix
    assert bed.sis.state(D)["lineItems"] == []
