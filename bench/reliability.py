"""Reliability scenarios, long versions: many trials on bigger worlds; prints one JSON document.

    python bench/reliability.py crash     --trials 20 --preset M   # SIGKILL at random moments, rerun
    python bench/reliability.py storm     --trials 4  --preset S   # 5xx/429/hangs/drops/30 s tokens
    python bench/reliability.py overlap   --trials 6  --preset S   # two runs of one district at once
    python bench/reliability.py statedb   --trials 10 --preset S [--state-url postgresql+psycopg://...]
    python bench/reliability.py isolation --trials 3  --preset S   # two districts, two hosts

The fast versions are the tests under tests/reliability/ (their docstrings say what each checks);
both share tests/reliability/_world.py.  Everything runs in a fresh temporary PASSBACK_HOME (kept
with --keep).  Exit status 0 when every trial passed.  Cost: a clean preset-M run is ~375,000
writes (~10 min on 2 cores), and a crash trial costs about one clean run, so 20 M trials take hours.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULTS = {"crash": ("M", 20), "storm": ("S", 4), "overlap": ("S", 6), "statedb": ("S", 10), "isolation": ("S", 3)}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def clean_reference(W: Any, bed: Any) -> tuple[dict, int, dict[str, Any]]:
    started = time.monotonic()
    summary = W.run_inprocess(bed.district_id, bed.utc_now)
    if summary.status != "completed":
        raise SystemExit(f"the clean run did not complete: {summary.error}")
    n = bed.sis.stored_writes(bed.district_id)
    # distinct assessments may share class, title and due date: the simulator counts them as
    # "duplicates", so a trial must show the clean run's count (no extra copy), not zero
    dups = bed.sis.state(bed.district_id, objects=False)["duplicate_line_items"]
    info = {
        "writes": n,
        "seconds": round(time.monotonic() - started, 1),
        "writes_per_s": summary.writes_per_s,
        "duplicate_line_items": dups,
    }
    log(f"clean run: {n} writes in {info['seconds']} s")
    return bed.snapshot(), n, info


def crash(W: Any, args: argparse.Namespace, home: Path, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    bound = args.batch_size + args.concurrency
    with W.testbed(
        home,
        args.preset,
        seed=args.seed,
        register_overrides={"batch_size": args.batch_size, "concurrency": args.concurrency},
    ) as bed:
        reference, n, clean = clean_reference(W, bed)
        trials = []
        for i in range(args.trials):
            if rng.random() < 0.15:  # before the first write: start-up, pre-flight, extract, validate
                point = {"kill_after_s": round(rng.uniform(0.2, 8.0), 2), "kill_writes": None}
            else:
                point = {"kill_after_s": None, "kill_writes": rng.randint(1, n - 1)}
            t = W.crash_trial(bed, reference, n, workdir=work, name=f"crash{i}", **point)
            ok = (
                t["rerun_status"] == "completed"
                and not t["gradebook_diff"]
                and not t["ledger_problems"]
                and t["duplicate_line_items"] == clean["duplicate_line_items"]
                and 0 <= t["resent"] <= bound
                and t["rerun_writes"] == n - t["ledger_rows_after_kill"]
            )
            row = {
                "trial": i,
                **point,
                "killed": t["kill"]["killed"],
                "writes_before_kill": t["writes_before_kill"],
                "ledger_rows_after_kill": t["ledger_rows_after_kill"],
                "rerun_writes": t["rerun_writes"],
                "resent": t["resent"],
                "ok": ok,
            }
            if not ok:
                row.update(
                    rerun_error=t["rerun_error"],
                    gradebook_diff=t["gradebook_diff"],
                    ledger_problems=t["ledger_problems"],
                    duplicate_line_items=t["duplicate_line_items"],
                )
            log(f"crash trial {i}: {row}")
            trials.append(row)
    resent = [t["resent"] for t in trials]
    return {
        "clean": clean,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "resent_bound": bound,
        "trials": trials,
        "killed": sum(t["killed"] for t in trials),
        "converged": sum(t["ok"] for t in trials),
        "max_resent": max(resent, default=0),
        "mean_resent": round(sum(resent) / len(resent), 1) if resent else 0,
        "ok": all(t["ok"] for t in trials),
    }


def storm(W: Any, args: argparse.Namespace, home: Path, work: Path) -> dict[str, Any]:
    with W.testbed(
        home,
        args.preset,
        seed=args.seed,
        register_overrides={"batch_size": args.batch_size, "concurrency": args.concurrency},
    ) as bed:
        reference, n, clean = clean_reference(W, bed)
        trials = []
        for i in range(args.trials):
            phase = ("before", "after")[i % 2]
            out = W.storm_run(bed, phase=phase, token_lifetime_s=args.token_lifetime, seed=args.seed + i)
            stats, puts = out["stats"], out["puts"]
            diff = W.diff_gradebooks(out["gradebook"], reference)
            row = {
                "trial": i,
                "fault_phase": phase,
                "runs": out["runs"],
                "runs_needed": len(out["runs"]),
                "seconds": out["seconds"],
                "requests": stats["requests"],
                "puts": puts,
                "share": {
                    k: round(v / max(stats["requests"], 1), 4)
                    for k, v in (
                        ("5xx", stats["server_errors_5xx"]),
                        ("429", stats["throttled_429"]),
                        ("hung", stats["hung"]),
                        ("dropped", stats["dropped"]),
                    )
                },
                "token_grants": stats["token_requests"].get("200", 0),
                "gradebook_diff": diff,
                "duplicate_line_items": out["duplicate_line_items"],
                "ledger_problems": out["ledger_problems"],
            }
            row["ok"] = (
                out["runs"][-1]["status"] == "completed"
                and not diff
                and not out["ledger_problems"]
                and out["duplicate_line_items"] == clean["duplicate_line_items"]
                and (phase == "after" or puts.get("201", 0) == n)
            )
            log(f"storm trial {i}: ok={row['ok']} runs={row['runs_needed']} {row['seconds']} s share={row['share']}")
            trials.append(row)
    return {
        "clean": clean,
        "storm": W.STORM,
        "client_timeout_s": W.STORM_CLIENT_TIMEOUT_S,
        "token_lifetime_s": args.token_lifetime,
        "trials": trials,
        "reruns_needed": sum(t["runs_needed"] - 1 for t in trials),
        "ok": all(t["ok"] for t in trials),
    }


def overlap(W: Any, args: argparse.Namespace, home: Path, work: Path) -> dict[str, Any]:
    with W.testbed(home, args.preset, seed=args.seed) as bed:
        reference, n, clean = clean_reference(W, bed)
        trials = []
        for i in range(args.trials):
            wait = (0.0, 120.0)[i % 2]
            got = W.overlap_run(bed, work, wait, name=f"t{i}-")
            (rc1, first, _), (rc2, second, err2) = got["outcomes"]
            diff = W.diff_gradebooks(got["gradebook"], reference)
            loser_ok = (
                rc2 == W.EXIT_BUSY and f"district {bed.district_id}" in (second or {}).get("error", "")
                if wait == 0
                else rc2 == 0 and (second or {}).get("writes") == 0
            )
            row = {
                "trial": i,
                "lock_wait_s": wait,
                "first": {"rc": rc1, "writes": (first or {}).get("writes")},
                "second": {
                    "rc": rc2,
                    "status": (second or {}).get("status"),
                    "writes": (second or {}).get("writes"),
                    "error": (second or {}).get("error") or err2[-200:],
                },
                "puts": got["puts"],
                "gradebook_diff": diff,
                "ok": rc1 == 0 and got["puts"] == {"201": n} and not diff and loser_ok,
            }
            log(f"overlap trial {i}: {row}")
            trials.append(row)
    return {"clean": clean, "trials": trials, "ok": all(t["ok"] for t in trials)}


def statedb(W: Any, args: argparse.Namespace, home: Path, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with W.testbed(home, args.preset, seed=args.seed, register_overrides={"batch_size": args.batch_size}) as bed:
        reference, n, clean = clean_reference(W, bed)
        txs = max(1, math.ceil(n / args.batch_size))
        trials = []
        for i in range(args.trials):
            k = rng.randint(1, txs)
            t = W.ledger_tx_trial(bed, reference, n, k, work, f"tx{i}")
            killed = t["returncode"] == -9
            ok = (
                t["rerun_status"] == "completed"
                and not t["gradebook_diff"]
                and not t["ledger_problems"]
                and t["duplicate_line_items"] == clean["duplicate_line_items"]
                and (
                    not killed
                    or (
                        t["ledger_equals_committed_batches"]
                        and t["torn_rows_in_ledger"] == 0
                        and t["resent"] == t["torn_batch_rows"]
                    )
                )
            )
            row = {
                "trial": i,
                "kill_in_ledger_tx": k,
                "killed": killed,
                "committed_rows": t["committed_rows"],
                "torn_batch_rows": t["torn_batch_rows"],
                "torn_rows_in_ledger": t["torn_rows_in_ledger"],
                "resent": t["resent"],
                "rerun_writes": t["rerun_writes"],
                "ok": ok,
            }
            if not ok:
                row.update({k2: t[k2] for k2 in ("rerun_error", "gradebook_diff", "ledger_problems", "stderr")})
            log(f"statedb trial {i}: {row}")
            trials.append(row)
    return {
        "clean": clean,
        "state_db": "postgresql" if "postgresql" in os.environ.get("PASSBACK_STATE_URL", "") else "sqlite",
        "batch_size": args.batch_size,
        "trials": trials,
        "killed": sum(t["killed"] for t in trials),
        "ok": all(t["ok"] for t in trials),
    }


def isolation(W: Any, args: argparse.Namespace, home: Path, work: Path) -> dict[str, Any]:
    from passback.simulator.faults import FaultConfig
    from passback.simulator.server import SimulatorProcess

    world = W.build_world(args.preset, seed=args.seed, districts=args.districts)
    scenario = W.write_sources(world, home)
    faults = FaultConfig(error_rate=0.05, token_lifetime_s=args.token_lifetime, seed=args.seed)
    sims = [
        SimulatorProcess(scenario, db_path=str(home / f"sim-{s.district_id}.db"), faults=faults).start()
        for s in world.seeds
    ]
    try:
        hosts = {s.district_id: W.Sis(sim.url) for s, sim in zip(world.seeds, sims, strict=True)}
        W.register(world, {d: sis.url for d, sis in hosts.items()})
        trials = []
        for i in range(args.trials):
            for seed in world.seeds:
                hosts[seed.district_id].reset_gradebook(scenario)
                W.reset_state(seed.district_id)
            started = time.monotonic()
            out = W.isolation_run(world, hosts)
            row = {
                "trial": i,
                "seconds": round(time.monotonic() - started, 1),
                "districts": {s["district"]: {"status": s["status"], "writes": s["writes"]} for s in out["summaries"]},
                "hosts": {
                    d: {k: h[k] for k in ("leaks", "cross_counts", "ledger_problems", "objects")}
                    | {"requests": h["stats"]["requests"], "token_grants": h["stats"]["token_requests"].get("200", 0)}
                    for d, h in out["hosts"].items()
                },
            }
            row["ok"] = all(s["status"] == "completed" for s in out["summaries"]) and all(
                not h["leaks"]
                and not h["ledger_problems"]
                and all(c == {"lineItems": 0, "results": 0} for c in h["cross_counts"].values())
                for h in out["hosts"].values()
            )
            log(f"isolation trial {i}: ok={row['ok']} {row['districts']}")
            trials.append(row)
    finally:
        for sim in sims:
            sim.stop()
    return {"districts": [s.district_id for s in world.seeds], "trials": trials, "ok": all(t["ok"] for t in trials)}


SCENARIOS = {"crash": crash, "storm": storm, "overlap": overlap, "statedb": statedb, "isolation": isolation}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--preset", default=None, help="demo, S, M or L (default per scenario)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=500, help="the district's ledger batch size")
    parser.add_argument("--concurrency", type=int, default=4, help="the district's client concurrency")
    parser.add_argument("--token-lifetime", type=float, default=30.0, help="storm/isolation: token lifetime, s")
    parser.add_argument("--districts", type=int, default=2, help="isolation: districts (one simulator each)")
    parser.add_argument(
        "--state-url",
        default=None,
        help="state DB URL (default: SQLite in the temp home); a PostgreSQL database given here is EMPTIED first",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary working folder")
    args = parser.parse_args(argv)
    preset, trials = DEFAULTS[args.scenario]
    args.preset = args.preset or preset
    args.trials = args.trials or trials

    work = Path(tempfile.mkdtemp(prefix=f"passback-reliability-{args.scenario}-"))
    home = work / "home"
    home.mkdir()
    os.environ["PASSBACK_HOME"] = str(home)
    for var in ("PASSBACK_STATE_URL", "PASSBACK_SOURCE_URL", "PASSBACK_SECRET_KEY", "PASSBACK_DATA_DOCS_DIR"):
        os.environ.pop(var, None)
    if args.state_url:
        from passback.store.db import make_engine
        from tests.statedb import drop_everything

        engine = make_engine(args.state_url)
        drop_everything(engine)
        engine.dispose()
        os.environ["PASSBACK_STATE_URL"] = args.state_url
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

    from tests.reliability import _world as W

    started = time.monotonic()
    try:
        result = SCENARIOS[args.scenario](W, args, home, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    out = {
        "scenario": args.scenario,
        "preset": args.preset,
        "trials_requested": args.trials,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started, 1),
        **result,
    }
    if args.keep:
        out["workdir"] = str(work)
    print(json.dumps(out, indent=2, default=str))
    return 0 if out.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
