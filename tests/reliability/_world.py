"""Shared machinery of the reliability tests and of ``bench/reliability.py``.

* worlds: a generated Otus world written to the source DB, its SIS side to a scenario file;
* ``Sis``: the simulator's admin plane (``tests.toolkit.Sis``: state, stats, request log, faults, gradebook reset);
* gradebook and ledger checks (``gradebook``, ``diff_gradebooks``, ``ledger_problems``);
* the sync subprocess that the tests SIGKILL: ``python -m tests.reliability._world sync ...``
  runs ``passback.sync.district.sync_district`` (the library path, no Prefect) and prints one
  JSON line.  Exit status: 0 completed/partial, 1 failed, 3 the district was busy (DistrictBusy).
  ``spawn_sync`` forks it from a fork server that already imported what a sync needs.

The library path is used for the crash trials because it takes a fixed ``utc_now`` (the generated
world's "today" must agree with the run's now) and starts in ~2 s; the CLI (`passback sync`,
on the session's Prefect API in the tests) uses the wall clock and imports Prefect and GX — it is exercised once, in
the overlap test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.toolkit import Sis

REPO = Path(__file__).resolve().parents[2]
EXIT_BUSY = 3
BUSY = "is being synced by another run"  # the lock holder's words (store.locks.DistrictBusy): nothing was written


# -- worlds -----------------------------------------------------------------------------------
def build_world(
    preset: str,
    *,
    seed: int = 7,
    today: dt.date | None = dt.date(2026, 11, 18),
    districts: int = 1,
    prefix: str | None = None,
) -> Any:
    """A generated world whose district ids are valid (lowercase) ids: ``demo``, ``s``, ``m``, ``s-2`` ..."""
    from passback.source.generate import generate

    return generate(preset, seed=seed, today=today, districts=districts, district_prefix=prefix or preset.lower())


def write_sources(world: Any, home: Path) -> Path:
    """The world's Otus tables into the source DB (settings), its SIS side into ``home/scenario.json``."""
    from passback.settings import get_settings
    from passback.source.write import write_world

    path = home / "scenario.json"
    write_world(world, get_settings().source_db_url, path)
    return path


def utc_now_for(seed: Any) -> dt.datetime:
    """Noon of the world's "today" in the district's time zone, as the run's fixed UTC now."""
    local = dt.datetime.combine(seed.today, dt.time(12, 0), tzinfo=ZoneInfo(seed.timezone))
    return local.astimezone(dt.UTC)


def state_engine() -> Any:
    from passback.settings import get_settings
    from passback.store.db import get_engine

    return get_engine(get_settings().state_db_url)


def register(world: Any, urls: str | dict[str, str], **overrides: Any) -> None:
    """Register every district of the world (at one simulator URL, or one URL per district id)."""
    from tests.toolkit import register as register_one

    for seed in world.seeds:
        url = urls if isinstance(urls, str) else urls[seed.district_id]
        register_one(
            seed.district_id,
            url,
            name=seed.name,
            client_id=seed.client_id,
            client_secret=seed.client_secret,
            timezone=seed.timezone,
            effective_date=seed.effective_date,
            mapping=seed.mapping,
            closed_periods=list(seed.closed_grading_period_ids),
            **overrides,
        )


def reset_state(district_id: str, engine: Any | None = None) -> None:
    """Forget everything a run left in the state DB (ledger, runs, learned closed periods, lock)."""
    from sqlalchemy import text

    engine = engine or state_engine()
    with engine.begin() as conn:
        for sql in (
            "DELETE FROM ledger_entry WHERE district_id = :d",
            "DELETE FROM run WHERE district_id = :d",
            "DELETE FROM district_lock WHERE district_id = :d",
            "DELETE FROM closed_grading_period WHERE district_id = :d AND source = 'sis'",
        ):
            conn.execute(text(sql), {"d": district_id})


def run_inprocess(district_id: str, utc_now: dt.datetime, **options: Any) -> Any:
    """One district run in this process (library path); returns the DistrictSummary."""
    from passback.sync.district import RunOptions, sync_district

    return asyncio.run(sync_district(district_id, RunOptions(utc_now=utc_now, build_docs=False, **options)))


# -- gradebook and ledger checks --------------------------------------------------------------
VOLATILE = ("dateLastModified",)


def gradebook(state: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(kind, sourcedId) -> the object's canonical JSON without server timestamps."""
    out: dict[tuple[str, str], str] = {}
    for kind, key in (("lineItem", "lineItems"), ("result", "results")):
        for obj in state[key]:
            clean = {k: v for k, v in obj.items() if k not in VOLATILE}
            out[(kind, obj["sourcedId"])] = json.dumps(clean, sort_keys=True)
    return out


def diff_gradebooks(got: dict[tuple[str, str], str], want: dict[tuple[str, str], str], limit: int = 5) -> list[str]:
    """Human-readable differences (empty when equal)."""
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    changed = [k for k in want if k in got and got[k] != want[k]]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[:limit]}")
    if extra:
        problems.append(f"{len(extra)} extra, e.g. {extra[:limit]}")
    for k in changed[:limit]:
        problems.append(f"{k} differs: got {got[k]} want {want[k]}")
    if len(changed) > limit:
        problems.append(f"... {len(changed)} changed in all")
    return problems


def _sis_hashes(state: dict[str, Any], ledger_results: Any) -> tuple[dict[str, int], dict[str, int]]:
    """The canonical payload hash (as ``passback.domain.payloads`` computes it) of each SIS object."""
    import pandas as pd

    from passback.domain.payloads import LINE_ITEM_HASHED, RESULT_HASHED, canonical_hash

    li = pd.DataFrame(
        {
            "sourced_id": [o["sourcedId"] for o in state["lineItems"]],
            "title": [o.get("title") for o in state["lineItems"]],
            "assign_date": [str(o.get("assignDate"))[:10] for o in state["lineItems"]],
            "due_date": [str(o.get("dueDate"))[:10] for o in state["lineItems"]],
            "class_sis_id": [o["class"]["sourcedId"] for o in state["lineItems"]],
            "category_id": [o["category"]["sourcedId"] for o in state["lineItems"]],
            "grading_period_id": [(o.get("gradingPeriod") or {}).get("sourcedId") for o in state["lineItems"]],
            "result_value_max": pd.array([float(o.get("resultValueMax")) for o in state["lineItems"]], dtype="float64"),
        }
    )
    # a result's assessment id is not in the SIS object: take it from the ledger row of the same sourcedId
    assessment_of = dict(zip(ledger_results["sourced_id"], ledger_results["assessment_id"], strict=True))
    res = pd.DataFrame(
        {
            "sourced_id": [o["sourcedId"] for o in state["results"]],
            "assessment_id": [assessment_of.get(o["sourcedId"], "?") for o in state["results"]],
            "student_sis_id": [o["student"]["sourcedId"] for o in state["results"]],
            "score": pd.array([float(o.get("score", 0.0)) for o in state["results"]], dtype="float64"),
            "score_status": [o.get("scoreStatus") for o in state["results"]],
            "comment": [o.get("comment") or "" for o in state["results"]],
        }
    )
    for frame in (li, res):
        for col in frame.columns:
            if frame[col].dtype != "float64":
                frame[col] = frame[col].astype("str")
    li_h = dict(zip(li["sourced_id"], canonical_hash(li, LINE_ITEM_HASHED).tolist(), strict=True)) if len(li) else {}
    res_h = dict(zip(res["sourced_id"], canonical_hash(res, RESULT_HASHED).tolist(), strict=True)) if len(res) else {}
    return li_h, res_h


def ledger_problems(district_id: str, state: dict[str, Any], engine: Any | None = None) -> list[str]:
    """The ledger against the SIS: every acked row is in the SIS with the payload it hashes, under
    the sourcedId derived from its natural key; every SIS object has an acked row."""
    from passback.domain.payloads import line_item_id, result_id
    from passback.store.ledger import read_ledger

    engine = engine or state_engine()
    cols = ["assessment_id", "student_id", "sourced_id", "payload_hash", "status"]
    li = read_ledger(engine, district_id, "lineItem", columns=cols)
    res = read_ledger(engine, district_id, "result", columns=cols)
    li_h, res_h = _sis_hashes(state, res)
    problems: list[str] = []
    for kind, ledger, sis_hash in (("lineItem", li, li_h), ("result", res, res_h)):
        acked = ledger[ledger["status"] == "acked"]
        want_ids = [
            line_item_id(district_id, a) if kind == "lineItem" else result_id(district_id, a, s)
            for a, s in zip(acked["assessment_id"], acked["student_id"], strict=True)
        ]
        wrong_id = int((acked["sourced_id"] != want_ids).sum())
        if wrong_id:
            problems.append(f"{wrong_id} acked {kind} ledger rows carry a sourcedId not derived from their key")
        in_sis = acked["sourced_id"].isin(list(sis_hash))
        if not in_sis.all():
            problems.append(
                f"{int((~in_sis).sum())} acked {kind} ledger rows are not in the SIS, e.g. "
                f"{acked.loc[~in_sis, 'sourced_id'].head(3).tolist()}"
            )
        both = acked[in_sis]
        bad_hash = [
            sid for sid, h in zip(both["sourced_id"], both["payload_hash"], strict=True) if sis_hash[sid] != int(h)
        ]
        if bad_hash:
            problems.append(
                f"{len(bad_hash)} acked {kind} ledger rows hash another payload than the SIS holds, e.g. {bad_hash[:3]}"
            )
        orphans = set(sis_hash) - set(acked["sourced_id"])
        if orphans:
            problems.append(f"{len(orphans)} SIS {kind}s have no acked ledger row, e.g. {sorted(orphans)[:3]}")
    return problems


def ledger_snapshot(district_id: str, engine: Any | None = None) -> dict[tuple[str, str, str], tuple[str, int, str]]:
    """(kind, assessment_id, student_id) -> (sourced_id, payload_hash, status)."""
    from passback.store.ledger import read_ledger

    engine = engine or state_engine()
    out = {}
    for kind in ("lineItem", "result"):
        frame = read_ledger(
            engine, district_id, kind, columns=["assessment_id", "student_id", "sourced_id", "payload_hash", "status"]
        )
        for a, s, sid, h, st in frame.itertuples(index=False):
            out[(kind, a, s)] = (sid, int(h), st)
    return out


# -- the sync subprocess ----------------------------------------------------------------------
def sync_args(
    district_id: str,
    utc_now: dt.datetime,
    *,
    lock_wait_s: float = 0.0,
    start_file: Path | None = None,
    kill_in_ledger_tx: int | None = None,
    ledger_log: Path | None = None,
) -> list[str]:
    """The arguments of ``python -m tests.reliability._world sync``."""
    args = ["sync", "--district", district_id, "--utc-now", utc_now.isoformat(), "--lock-wait", str(lock_wait_s)]
    if start_file is not None:
        args += ["--start-file", str(start_file)]
    if kill_in_ledger_tx is not None:
        args += ["--kill-in-ledger-tx", str(kill_in_ledger_tx)]
    if ledger_log is not None:
        args += ["--ledger-log", str(ledger_log)]
    return args


def spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a subprocess in the repo root with this process's environment (PASSBACK_HOME, state URL...)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), full_env.get("PYTHONPATH", "")) if p)
    out = open(log_path.with_suffix(".out"), "w")  # noqa: SIM115 - closed by finish()
    err = open(log_path.with_suffix(".err"), "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=out, stderr=err, text=True)
    proc._passback_logs = (out, err, log_path)  # type: ignore[attr-defined]
    return proc


# What a sync process imports before it runs (the library path, GX, Arrow's drivers): a fork server
# holds them imported, so a crash trial's process starts in milliseconds instead of paying ~9 s of
# CPU for its imports.  The process is still a process of its own: its pid, its SIGKILL, its exit status.
FORK_PRELOAD = ["tests.reliability._world", "passback.sync.district", "great_expectations", "adbc_driver_sqlite.dbapi"]


class Forked:
    """A sync process forked from the fork server, with the part of ``subprocess.Popen``'s interface
    that ``kill_at`` and ``finish`` use."""

    def __init__(self, process: Any, log_path: Path) -> None:
        self.process, self.pid = process, process.pid
        self._passback_logs = (None, None, log_path)

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode  # type: ignore[no-any-return]

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired("tests.reliability._world sync", timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)


def _forked_sync(env: dict[str, str], args: list[str], log_path: str) -> None:
    """The fork server's child: this test's environment, output to the log files, then the sync."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(REPO)
    for fd, suffix in ((1, ".out"), (2, ".err")):
        target = os.open(f"{log_path}{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    from passback.settings import reset_settings

    reset_settings()
    rc = main(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


def spawn_sync(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> Forked:
    """``python -m tests.reliability._world sync ARGS`` as a process forked from the fork server."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(FORK_PRELOAD)
    stem = str(log_path.with_suffix(""))
    process = context.Process(target=_forked_sync, args=({**os.environ, **(env or {})}, args, stem), daemon=True)
    process.start()
    return Forked(process, log_path)


def finish(proc: subprocess.Popen[str] | Forked, timeout: float = 600) -> tuple[int, dict[str, Any] | None, str]:
    """Wait for the process; (returncode, its JSON line or None, its stderr tail)."""
    rc = proc.wait(timeout=timeout)
    out, err, log_path = proc._passback_logs  # type: ignore[union-attr]
    for stream in (out, err):
        if stream is not None:
            stream.close()
    stdout = log_path.with_suffix(".out").read_text()
    stderr = log_path.with_suffix(".err").read_text()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return rc, (json.loads(lines[-1]) if lines else None), stderr[-3000:]


def kill_at(
    proc: subprocess.Popen[str] | Forked,
    sis: Sis,
    tenant: str,
    *,
    writes: int | None = None,
    after_s: float | None = None,
    poll_s: float = 0.005,
    give_up_s: float = 600,
) -> dict[str, Any]:
    """SIGKILL the process once the simulator has stored ``writes`` writes of the tenant (or after
    ``after_s`` seconds).  Returns whether it was killed (it may finish first) and when."""
    started = time.monotonic()
    seen = 0
    while proc.poll() is None and time.monotonic() - started < give_up_s:
        if after_s is not None and time.monotonic() - started >= after_s:
            break
        if writes is not None:
            seen = sis.stored_writes(tenant)
            if seen >= writes:
                break
        time.sleep(poll_s)
    if proc.poll() is not None:
        return {"killed": False, "at_s": time.monotonic() - started, "writes_seen": seen}
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return {
        "killed": True,
        "at_s": round(time.monotonic() - started, 3),
        "writes_seen": seen,
        "returncode": proc.returncode,
    }


def _install_ledger_kill(kill_at_tx: int | None, log_path: Path | None) -> None:
    """Log each ledger batch's keys (fsynced) before it is written; on the ``kill_at_tx``-th batch,
    SIGKILL this process right after the INSERT ran inside the open transaction (before COMMIT)."""
    if kill_at_tx is None and log_path is None:
        return
    from sqlalchemy import event

    from passback.store import ledger as store_ledger

    original = store_ledger.record_acks
    state = {"n": 0, "armed": False}
    # the statement after which to die (the ledger's INSERT; tests/audit also kill after the audit's)
    kill_on = os.environ.get("PASSBACK_TEST_KILL_ON", "INSERT INTO LEDGER_ENTRY").upper()

    def record_acks(engine: Any, district_id: str, entries: Any, run_id: str | None, **kw: Any) -> int:
        rows = entries.to_dict("records") if hasattr(entries, "to_dict") else list(entries)
        state["n"] += 1
        if log_path is not None and rows:
            keys = [[r["kind"], str(r["assessment_id"]), str(r.get("student_id") or "")] for r in rows]
            with open(log_path, "a") as f:
                f.write(json.dumps({"tx": state["n"], "keys": keys}) + "\n")
                f.flush()
                os.fsync(f.fileno())
        if kill_at_tx is not None and state["n"] == kill_at_tx:
            state["armed"] = True
            if not getattr(engine, "_reliability_hooked", False):
                engine._reliability_hooked = True  # type: ignore[attr-defined]

                @event.listens_for(engine, "after_cursor_execute")
                def _die(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                    if state["armed"] and statement.lstrip().upper().startswith(kill_on):
                        os.kill(os.getpid(), signal.SIGKILL)

        return original(engine, district_id, entries, run_id, **kw)

    store_ledger.record_acks = record_acks  # type: ignore[assignment]


def _main_sync(args: argparse.Namespace) -> int:
    from passback.sync.district import sync_district  # noqa: F401 - imported before the barrier

    _install_ledger_kill(args.kill_in_ledger_tx, Path(args.ledger_log) if args.ledger_log else None)
    if args.start_file:  # a barrier: say "ready" (imports done), start the run when the file appears
        Path(f"{args.start_file}.ready.{os.getpid()}").touch()
        while not Path(args.start_file).exists():
            time.sleep(0.01)
    started = time.time()
    summary = run_inprocess(args.district, dt.datetime.fromisoformat(args.utc_now), lock_wait_s=args.lock_wait)
    if summary.status == "failed" and summary.run_id is None and BUSY in (summary.error or ""):
        print(
            json.dumps(
                {
                    "district": args.district,
                    "status": "busy",
                    "error": summary.error,
                    "started": started,
                    "ended": time.time(),
                }
            ),
            flush=True,
        )
        return EXIT_BUSY
    data = summary.as_json()
    data.update(started=started, ended=time.time())
    print(json.dumps(data, default=str), flush=True)
    return 1 if summary.status == "failed" else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability._world")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sync", help="one district run (library path), one JSON line on stdout")
    s.add_argument("--district", required=True)
    s.add_argument("--utc-now", required=True)
    s.add_argument("--lock-wait", type=float, default=0.0)
    s.add_argument("--start-file", default=None)
    s.add_argument("--kill-in-ledger-tx", type=int, default=None)
    s.add_argument("--ledger-log", default=None)
    args = parser.parse_args(argv)
    return _main_sync(args)


if __name__ == "__main__":
    sys.exit(main())


# -- a test bed: world + source DB + simulator process + registered districts ------------------
@dataclass
class Bed:
    world: Any
    scenario_path: Path
    sis: Sis
    sim: Any  # SimulatorProcess
    utc_now: dt.datetime

    @property
    def district_id(self) -> str:
        return self.world.seeds[0].district_id

    def clean_reset(self) -> None:
        """An empty gradebook, zeroed counters and an empty ledger for every district of the world."""
        self.sis.reset_gradebook(self.scenario_path)
        for seed in self.world.seeds:
            reset_state(seed.district_id)

    def snapshot(self, tenant: str | None = None) -> dict[tuple[str, str], str]:
        return gradebook(self.sis.state(tenant or self.district_id))


@contextlib.contextmanager
def testbed(
    home: Path,
    preset: str = "demo",
    *,
    seed: int = 7,
    today: dt.date | None = dt.date(2026, 11, 18),
    faults: Any = None,
    register_overrides: dict[str, Any] | None = None,
    sim_db: str = "simulator.db",
) -> Iterator[Bed]:
    """Generate and write a world, start the simulator in its own process (a file DB, so the
    gradebook outlives any client), register the world's districts against it."""
    from passback.simulator.server import SimulatorProcess

    world = build_world(preset, seed=seed, today=today)
    scenario_path = write_sources(world, home)
    with SimulatorProcess(scenario_path, db_path=str(home / sim_db), faults=faults, port=0) as sim:
        register(world, sim.url, **(register_overrides or {}))
        yield Bed(
            world=world, scenario_path=scenario_path, sis=Sis(sim.url), sim=sim, utc_now=utc_now_for(world.seeds[0])
        )


# -- one crash trial (scenario 1, also used by the state DB test and the bench) ------------------
def crash_trial(
    bed: Bed,
    reference: dict[tuple[str, str], str],
    clean_writes: int,
    *,
    kill_writes: int | None,
    kill_after_s: float | None,
    workdir: Path,
    name: str,
) -> dict[str, Any]:
    """Fresh gradebook and ledger -> sync in a subprocess -> SIGKILL -> rerun -> compare."""
    d = bed.district_id
    bed.clean_reset()
    proc = spawn_sync(sync_args(d, bed.utc_now), workdir / name)
    kill = kill_at(proc, bed.sis, d, writes=kill_writes, after_s=kill_after_s)
    rc, out, err = finish(proc)
    first = bed.sis.stored_writes(d)
    ledger_rows = len(ledger_snapshot(d))
    rerun = run_inprocess(d, bed.utc_now)
    total = bed.sis.stored_writes(d)
    state = bed.sis.state(d)
    return {
        "kill": kill,
        "returncode": rc,
        "stderr": err[-300:],
        "writes_before_kill": first,
        "ledger_rows_after_kill": ledger_rows,
        "rerun_status": rerun.status,
        "rerun_error": rerun.error,
        "rerun_writes": rerun.writes,
        "resent": total - clean_writes,
        "gradebook_diff": diff_gradebooks(gradebook(state), reference),
        "duplicate_line_items": state["duplicate_line_items"],
        "ledger_problems": ledger_problems(d, state),
    }


# -- scenario 2: a fault storm (also used by the bench) ---------------------------------------
STORM = dict(error_rate=0.10, throttle_rate=0.05, hang_rate=0.02, hang_s=2.0, drop_rate=0.01)
STORM_CLIENT_TIMEOUT_S = 1.0


def storm_run(
    bed: Bed, *, phase: str, token_lifetime_s: float, seed: int, max_runs: int = 3, storm: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Reset, turn the storm on, sync until completed (at most ``max_runs`` runs), turn it off, collect."""
    d = bed.district_id
    bed.clean_reset()
    bed.sis.faults(**(storm or STORM), fault_phase=phase, token_lifetime_s=token_lifetime_s, seed=seed)
    from passback.store.districts import update_district

    runs = []
    started = time.monotonic()
    update_district(state_engine(), d, request_timeout_s=STORM_CLIENT_TIMEOUT_S)  # hangs become timeouts
    try:
        for _ in range(max_runs):
            summary = run_inprocess(d, bed.utc_now)
            runs.append(
                {
                    "status": summary.status,
                    "writes": summary.writes,
                    "error": summary.error,
                    "seconds": round(summary.seconds, 1),
                }
            )
            if summary.status == "completed":
                break
    finally:
        update_district(state_engine(), d, request_timeout_s=30.0)
    seconds = time.monotonic() - started
    stats = bed.sis.tenant_stats(d)
    bed.sis.faults(
        error_rate=0.0, throttle_rate=0.0, hang_rate=0.0, drop_rate=0.0, rate_limit_per_s=None, token_lifetime_s=None
    )
    state = bed.sis.state(d)
    return {
        "runs": runs,
        "seconds": round(seconds, 1),
        "stats": stats,
        "puts": bed.sis.puts_by_status(d),
        "gradebook": gradebook(state),
        "duplicate_line_items": state["duplicate_line_items"],
        "ledger_problems": ledger_problems(d, state),
    }


# -- scenario 6: two runs at once ---------------------------------------------------------------
def overlap_run(bed: Bed, workdir: Path, lock_wait_s: float, name: str = "") -> dict[str, Any]:
    """Empty gradebook and ledger, then two sync processes released by one barrier file.  The
    outcomes are sorted: the run that wrote the most first."""
    from passback.store import runs as store_runs

    d = bed.district_id
    bed.clean_reset()
    tag = f"{name}{lock_wait_s:g}"
    start = workdir / f"go-{tag}"
    procs = [
        spawn_sync(sync_args(d, bed.utc_now, lock_wait_s=lock_wait_s, start_file=start), workdir / f"p{i}-{tag}")
        for i in range(2)
    ]
    deadline = time.monotonic() + 300
    while len(list(workdir.glob(f"{start.name}.ready.*"))) < 2 and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.02)
    start.touch()  # both have imported everything: release them together
    outcomes = sorted((finish(p) for p in procs), key=lambda o: -(o[1] or {}).get("writes", 0))
    return {
        "outcomes": outcomes,
        "puts": bed.sis.puts_by_status(d),
        "gradebook": bed.snapshot(),
        "history": store_runs.recent_runs(state_engine(), d, 10),
    }


# -- scenario 8: killed inside a ledger transaction ---------------------------------------------
def logged_batches(path: Path) -> dict[int, set[tuple[str, str, str]]]:
    out: dict[int, set[tuple[str, str, str]]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            out[entry["tx"]] = {tuple(k) for k in entry["keys"]}
    return out


def ledger_tx_trial(
    bed: Bed, reference: dict[tuple[str, str], str], clean_writes: int, kill_at_tx: int, workdir: Path, name: str
) -> dict[str, Any]:
    """Fresh gradebook and ledger -> a sync that SIGKILLs itself inside its k-th ledger transaction
    (after the INSERT, before COMMIT) -> what the DB holds -> rerun -> compare."""
    from sqlalchemy import text

    from passback.store import runs as store_runs

    d = bed.district_id
    bed.clean_reset()
    log = workdir / f"{name}.ledger.jsonl"
    log.unlink(missing_ok=True)
    proc = spawn_sync(sync_args(d, bed.utc_now, kill_in_ledger_tx=kill_at_tx, ledger_log=log), workdir / name)
    rc, out, err = finish(proc)
    batches = logged_batches(log)
    ledger = ledger_snapshot(d)
    written_before_kill = bed.sis.stored_writes(d)
    killed = store_runs.recent_runs(state_engine(), d, 1)
    with state_engine().connect() as conn:
        lock = conn.execute(text("SELECT pid FROM district_lock WHERE district_id = :d"), {"d": d}).fetchall()
    rerun = run_inprocess(d, bed.utc_now)  # takes the dead run's lock over
    state = bed.sis.state(d)
    committed = set().union(*(batches[i] for i in range(1, kill_at_tx) if i in batches))
    torn = batches.get(kill_at_tx, set())
    return {
        "returncode": rc,
        "stdout_json": out,
        "stderr": err[-300:],
        "batches_logged": sorted(batches),
        "ledger_equals_committed_batches": set(ledger) == committed,
        "ledger_rows": len(ledger),
        "committed_rows": len(committed),
        "torn_batch_rows": len(torn),
        "torn_rows_in_ledger": len(set(ledger) & torn),
        "written_before_kill": written_before_kill,
        "killed_run_status": killed[0].status if killed else None,
        "lock_left": bool(lock),
        "rerun_status": rerun.status,
        "rerun_error": rerun.error,
        "rerun_writes": rerun.writes,
        "resent": bed.sis.stored_writes(d) - clean_writes,
        "gradebook_diff": diff_gradebooks(gradebook(state), reference),
        "duplicate_line_items": state["duplicate_line_items"],
        "ledger_problems": ledger_problems(d, state),
    }


# -- scenario 10: two districts, two hosts ------------------------------------------------------
def isolation_leaks(sis: Sis, own: Any, other: Any) -> list[str]:
    """Everything in this simulator's request log that is not the own district's, with its own token."""
    rows = sis.requests()
    problems = []
    if not rows:
        return [f"no request reached {own.district_id}'s host"]
    tenants = {r["tenant"] for r in rows}
    if tenants != {own.district_id}:
        problems.append(f"requests for tenants {sorted(tenants)} reached {own.district_id}'s host")
    if any(r["path"].split("/")[1] != own.district_id for r in rows):
        problems.append(f"a request path names another tenant than {own.district_id}")
    token_rows = [r for r in rows if r["path"].endswith("/oauth/token")]
    api_rows = [r for r in rows if not r["path"].endswith("/oauth/token")]
    # a token request answered by an injected fault never reached the handler that reads the client id
    clients = {r["client_id"] for r in token_rows if not (r["client_id"] is None and r["fault"] in ("error", "drop"))}
    if clients != {own.client_id}:
        problems.append(
            f"token requests presented client ids {clients} (own: {own.client_id}, other: {other.client_id})"
        )
    foreign = [
        r
        for r in api_rows
        if r["client_id"] != own.client_id
        or r["token_tenant"] != own.district_id
        or r["token_tenant_matches"] is not True
    ]
    if foreign:
        problems.append(
            f"{len(foreign)} API requests without this host's token for {own.district_id}, e.g. {foreign[:2]}"
        )
    own_ids = {sid for sid, _h, _s in ledger_snapshot(own.district_id).values()}
    put_ids = {r["path"].rsplit("/", 1)[1] for r in api_rows if r["method"] == "PUT"}
    if not put_ids or put_ids - own_ids:
        problems.append(
            f"{len(put_ids - own_ids)} of {len(put_ids)} PUTs are of objects that are not {own.district_id}'s"
        )
    return problems


def isolation_run(world: Any, sis_by_district: dict[str, Sis]) -> dict[str, Any]:
    """Sync every district of the world concurrently in this process (one event loop, as the
    nightly flow runs its subflows), then read each host's log and gradebooks."""
    from passback.sync.district import RunOptions, sync_district

    async def all_districts() -> list[Any]:
        return list(
            await asyncio.gather(
                *(
                    sync_district(s.district_id, RunOptions(utc_now=utc_now_for(s), build_docs=False))
                    for s in world.seeds
                )
            )
        )

    summaries = asyncio.run(all_districts())
    out: dict[str, Any] = {"summaries": [s.as_json() for s in summaries], "hosts": {}}
    for seed in world.seeds:
        sis = sis_by_district[seed.district_id]
        others = [s for s in world.seeds if s.district_id != seed.district_id]
        own_state = sis.state(seed.district_id)
        out["hosts"][seed.district_id] = {
            "leaks": [p for o in others for p in isolation_leaks(sis, seed, o)],
            "cross_counts": {o.district_id: sis.state(o.district_id, objects=False)["counts"] for o in others},
            "ledger_problems": ledger_problems(seed.district_id, own_state),
            "objects": len(own_state["lineItems"]) + len(own_state["results"]),
            "stats": sis.tenant_stats(seed.district_id),
        }
    return out
