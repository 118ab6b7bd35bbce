#!/usr/bin/env python
"""passback benchmarks: ``python bench/run.py SCENARIO [--json]``.

Scenarios (see the README's benchmark table for the figures they must reach):

  plan-L            extract -> validate (GX) -> payloads -> diff against a full ledger, preset L
  plan-L-pg         the same with the Otus source on PostgreSQL (PASSBACK_BENCH_PG_SOURCE_URL, default the
                    database passback_scale_src on 127.0.0.1:5432; the L source is loaded into it once)
  noop-L            a whole district run (the Prefect flow) with nothing changed since the night before, preset L
  amplification     preset M fully synced, then a typical night: writes / changed items
  load              50 ms latency, server concurrency cap 4 (ideal 80 writes/s); beside it, the CPU of a bare
                    request through passback's HTTP path against the same simulator (the floor under a write)
  ratelimit         a 40 writes/s token bucket answering 429 + Retry-After
  prefect-overhead  a typical night of preset M through the flow vs the library alone
  districts         20 small districts at 30 ms latency: nightly flow bounded-concurrent vs one by one
  audit-size        the audit trail's bytes per write on SQLite and PostgreSQL (bench/audit_bench.py)
  reconcile-M       `passback reconcile` of preset M fully synced, against its simulator; extrapolated to L
  all               the quick ones: load, ratelimit, amplification, prefect-overhead, districts

Generated data, synced ledgers and simulator databases are cached under ``bench/.cache`` (keyed by
preset and date); the first run of a scenario may take much longer than the next.  Each scenario
runs in its own process so that ``peak_rss_mb`` is the measured run's, not the generator's.
Results are also merged into ``bench/results.json`` (machine, date, figures).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pickle
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # flows/ and tasks/ when run from a checkout

CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results.json"
QUICK = ["load", "ratelimit", "amplification", "prefect-overhead", "districts"]
TODAY = dt.date.today()


# -- data and homes ------------------------------------------------------------------------------
def world_dir(preset: str, districts: int = 1) -> Path:
    """The cached Otus source DB, simulator scenario and district seeds of a preset (generated once a day)."""
    path = CACHE / f"{preset}-x{districts}-{TODAY.isoformat()}"
    if not (path / "seeds.pkl").exists():
        # in a child process: the generator's memory must not count in the measured run's peak RSS
        subprocess.run([sys.executable, __file__, "--prepare", preset, str(districts)], check=True)
    return path


def prepare(preset: str, districts: int) -> None:
    from passback.source.generate import generate
    from passback.source.write import write_world

    path = CACHE / f"{preset}-x{districts}-{TODAY.isoformat()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    t0 = time.perf_counter()
    world = generate(preset, seed=7, districts=districts, today=TODAY)
    write_world(world, f"sqlite:///{path / 'otus.db'}", path / "scenario.json")
    (path / "seeds.pkl").write_bytes(pickle.dumps(world.seeds))
    print(f"generated {preset} x{districts} in {time.perf_counter() - t0:.1f} s: {world.counts}", file=sys.stderr)


def seeds_of(path: Path) -> list[Any]:
    return pickle.loads((path / "seeds.pkl").read_bytes())


def use_home(home: Path, source_db: Path, *, fresh: bool = True) -> None:
    """Point passback at ``home`` (state DB, key, Data Docs) and at a source DB."""
    from passback.settings import reset_settings
    from passback.store.db import forget_engines

    if fresh:
        shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PASSBACK_HOME"] = str(home)
    os.environ["PASSBACK_SOURCE_URL"] = f"sqlite:///{source_db}"
    for var in ("PASSBACK_STATE_URL", "PASSBACK_DATA_DOCS_DIR", "PASSBACK_SECRET_KEY"):
        os.environ.pop(var, None)
    reset_settings()
    forget_engines()


def register(seeds: list[Any], sim_url: str, **changes: Any) -> None:
    from passback.cli.common import engine
    from passback.cli.demo import register_world
    from passback.store.districts import update_district

    register_world(SimpleNamespace(seeds=seeds), sim_url)
    for seed in seeds:
        if changes:
            update_district(engine(), seed.district_id, **changes)


def simulator(scenario: Path | None, db: Path | str = ":memory:", **faults: Any) -> Any:
    from passback.simulator.faults import FaultConfig
    from passback.simulator.server import SimulatorProcess

    return SimulatorProcess(scenario, db_path=str(db), faults=FaultConfig(**faults), startup_timeout_s=600)


def sim_stats(url: str) -> dict[str, Any]:
    import httpx

    return httpx.get(f"{url}/admin/stats", timeout=60).json()


def reset_stats(url: str) -> None:
    import httpx

    httpx.post(f"{url}/admin/reset-stats", timeout=60).raise_for_status()


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def evaluate_district(district_id: str) -> tuple[Any, dict[str, float]]:
    """Pre-flight, extract and evaluate one district (no writes); returns (evaluation, stage seconds)."""
    from passback.sync.district import DistrictRun, RunOptions

    run = DistrictRun(district_id, RunOptions(build_docs=False))
    async with run.client() as client:
        sis = await run.preflight(client)
    t0 = time.perf_counter()
    source = run.extract()
    extract_s = time.perf_counter() - t0
    evaluation = run.evaluate(source, sis)
    st = evaluation.stage_seconds
    stages = {
        "extract": extract_s,
        "validate": st["validate"],
        "transform": st["transform"],
        "diff": st["diff"] + st.get("ledger", 0.0),
    }
    return evaluation, {k: round(v, 2) for k, v in stages.items()}


def write_full_ledger(district_id: str, evaluation: Any) -> int:
    """Record every planned write as acknowledged, as if the district had been fully synced."""
    from passback.domain.payloads import line_item_id, result_id
    from passback.settings import get_settings

    plan = evaluation.plan
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    li, res = plan.line_item_writes, plan.result_writes
    rows = [
        (district_id, "lineItem", a, "", line_item_id(district_id, a), int(h), "acked", 201, gp, now)
        for a, h, gp in zip(li["assessment_id"], li["payload_hash"], li["grading_period_id"], strict=True)
    ]
    rows += [
        (district_id, "result", a, s, result_id(district_id, a, s), int(h), "acked", 201, gp, now)
        for a, s, h, gp in zip(
            res["assessment_id"], res["student_id"], res["payload_hash"], res["grading_period_id"], strict=True
        )
    ]
    db = get_settings().state_db_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO ledger_entry (district_id, kind, assessment_id, student_id, sourced_id, payload_hash, status,"
            " http_status, grading_period_id, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    return len(rows)


def synced_home(preset: str) -> Path:
    """A state-DB home whose ledger holds every write of the preset's plan (cached)."""
    data = world_dir(preset)
    home = data / "synced-home"
    if not (home / "done").exists():
        subprocess.run([sys.executable, __file__, "--prepare-ledger", preset], check=True)
    return home


def prepare_ledger(preset: str) -> None:
    data = world_dir(preset)
    home = data / "synced-home"
    use_home(home, data / "otus.db")
    seeds = seeds_of(data)
    with simulator(data / "scenario.json") as sim:
        register(seeds, sim.url)
        evaluation, _ = asyncio.run(evaluate_district(seeds[0].district_id))
        n = write_full_ledger(seeds[0].district_id, evaluation)
    (home / "done").write_text(str(n))
    print(f"ledger of {preset}: {n} acknowledged items", file=sys.stderr)


def copy_home(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


async def warm_prefect() -> None:
    """Start the ephemeral Prefect API before timing (a one-off ~10 s, not a per-run cost)."""
    from prefect import flow

    @flow(name="warm-up")
    async def warm() -> None:
        return None

    await warm()


async def run_flow(district_id: str) -> dict[str, Any]:
    from flows.district_sync import district_sync

    state = await district_sync(district_id, return_state=True)
    return await state.result(raise_on_failure=False)


# -- scenarios -----------------------------------------------------------------------------------
def synced_l(name: str) -> tuple[Path, list[Any]]:
    """A private copy of the fully synced L home, in use; returns (world dir, seeds)."""
    data = world_dir("L")
    use_home(copy_home(synced_home("L"), CACHE / "runs" / name), data / "otus.db", fresh=False)
    return data, seeds_of(data)


def plan_l(data: Path | None = None, seeds: list[Any] | None = None) -> dict[str, Any]:
    if data is None or seeds is None:
        data, seeds = synced_l("plan-L")
    import great_expectations  # noqa: F401 - a one-off ~5 s import per process, not a per-district cost

    with simulator(data / "scenario.json") as sim:
        register(seeds, sim.url)
        t0, cpu0 = time.perf_counter(), time.process_time()
        evaluation, stages = asyncio.run(evaluate_district(seeds[0].district_id))
        preflight_and_all = time.perf_counter() - t0
        cpu_s = time.process_time() - cpu0
    plan = evaluation.plan
    return {
        "scores": len(evaluation.scores),
        "line_items": len(plan.line_items),
        "seconds": round(sum(stages.values()), 2),
        "stage_seconds": stages,
        "peak_rss_mb": peak_rss_mb(),
        "planned_writes": len(plan.line_item_writes) + len(plan.result_writes),
        "wall_seconds_with_preflight": round(preflight_and_all, 2),
        "cpu_seconds": round(cpu_s, 2),
    }


PG_SOURCE_URL = os.environ.get(
    "PASSBACK_BENCH_PG_SOURCE_URL", "postgresql+psycopg://passback:passback@127.0.0.1:5432/passback_scale_src"
)


def pg_source(preset: str) -> str:
    """The preset's Otus source loaded into PostgreSQL once (cached: a marker table names the world)."""
    from sqlalchemy import create_engine, text

    data = world_dir(preset)
    engine = create_engine(PG_SOURCE_URL)
    try:
        with engine.connect() as conn:
            loaded = (
                conn.execute(text("SELECT to_regclass('bench_loaded') IS NOT NULL")).scalar_one()
                and conn.execute(text("SELECT world FROM bench_loaded")).scalar_one_or_none()
            )
    except Exception as exc:
        raise SystemExit(
            f"plan-L-pg needs the PostgreSQL database of {PG_SOURCE_URL.split('@')[-1]}: {exc}\n"
            "create it (e.g. su postgres -c 'createdb -O passback passback_scale_src') "
            "or set PASSBACK_BENCH_PG_SOURCE_URL"
        ) from exc
    finally:
        engine.dispose()
    if loaded != data.name:
        subprocess.run([sys.executable, __file__, "--prepare-pg", preset], check=True)
    return PG_SOURCE_URL


def prepare_pg(preset: str) -> None:
    """Copy the preset's SQLite source into PostgreSQL through Arrow (ADBC ingest = binary COPY)."""
    import adbc_driver_postgresql.dbapi as pg_adbc
    import adbc_driver_sqlite.dbapi as sqlite_adbc
    import pyarrow as pa
    import pyarrow.compute as pc
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from passback.source.models import SOURCE_TABLES, create_source_schema

    data = world_dir(preset)
    t0 = time.perf_counter()
    engine = create_engine(PG_SOURCE_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_loaded"))
        for table in reversed(SOURCE_TABLES):
            conn.execute(text(f"DROP TABLE IF EXISTS {table.name} CASCADE"))
    create_source_schema(engine)
    src = sqlite_adbc.connect(str(data / "otus.db"))
    dst = pg_adbc.connect(make_url(PG_SOURCE_URL).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        for table in SOURCE_TABLES:
            with src.cursor() as cur:
                cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "65536"})
                cur.execute(f"SELECT {', '.join(c.name for c in table.columns)} FROM {table.name}")
                arrow = cur.fetch_arrow_table()
            columns = []
            for col in table.columns:
                values = arrow.column(col.name)
                kind = col.type.python_type
                if kind is bool:
                    values = pc.not_equal(values.cast(pa.int64()), 0)
                elif kind is float:
                    values = values.cast(pa.float64())
                elif kind is dt.date:
                    values = values.cast(pa.string()).cast(pa.date32())
                elif kind is dt.datetime:
                    values = values.cast(pa.string()).cast(pa.timestamp("us"))
                else:
                    values = values.cast(pa.string())
                columns.append(values)
            with dst.cursor() as cur:
                cur.adbc_ingest(table.name, pa.table(columns, names=[c.name for c in table.columns]), mode="append")
            dst.commit()
    finally:
        src.close()
        dst.close()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        conn.execute(text("CREATE TABLE bench_loaded (world text)"))
        conn.execute(text("INSERT INTO bench_loaded VALUES (:w)"), {"w": data.name})
    engine.dispose()
    print(f"{preset} source loaded into PostgreSQL in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def plan_l_pg() -> dict[str, Any]:
    url = pg_source("L")
    data, seeds = synced_l("plan-L-pg")
    os.environ["PASSBACK_SOURCE_URL"] = url
    from passback.settings import reset_settings

    reset_settings()
    out = plan_l(data, seeds)
    return {**out, "source": "postgresql"}


def noop_l() -> dict[str, Any]:
    data, seeds = synced_l("noop-L")
    import great_expectations  # noqa: F401 - once per worker process, not per district (as plan-L and districts)

    with simulator(data / "scenario.json") as sim:
        register(seeds, sim.url)
        # the night before, in a child process (its memory is not this run's): it wrote the report
        # and the Data Docs a quiet night finds
        subprocess.run([sys.executable, __file__, "--night-before", seeds[0].district_id], check=True)
        asyncio.run(warm_prefect())
        reset_stats(sim.url)
        t0, cpu0 = time.perf_counter(), time.process_time()
        summary = asyncio.run(run_flow(seeds[0].district_id))
        seconds = time.perf_counter() - t0
        cpu_s = time.process_time() - cpu0
        writes = sim_stats(sim.url)["total_writes"]
    return {
        "writes": writes,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_s, 2),
        "peak_rss_mb": peak_rss_mb(),
        "status": summary["status"],
        "data_docs_reused": "the same validation results as run folder" in Path(summary["data_docs"]).read_text(),
        "unchanged": {"line_items": summary["line_items"]["unchanged"], "results": summary["results"]["unchanged"]},
        "stage_seconds": summary.get("stage_seconds"),
    }


def synced_m() -> Path:
    """Preset M fully synced (cached): ``home/`` (state DB) and ``sim.db`` (the simulator's database).

    The real first-night run with its writes applied to the simulator's store in-process
    (``bench/synced.py``: the same bodies, rules, ledger and audit, minutes instead of hours);
    ``PASSBACK_BENCH_SYNC_OVER_HTTP=1``: every write over HTTP instead (368k requests: hours here)."""
    data = world_dir("M")
    base = data / ("synced-real" if os.environ.get("PASSBACK_BENCH_SYNC_OVER_HTTP") == "1" else "synced-direct")
    if not (base / "done").exists():
        subprocess.run([sys.executable, __file__, "--prepare-synced-m", base.name], check=True)
    return base


def prepare_synced_m(how: str) -> None:
    from bench.synced import sync_direct
    from passback.sync.district import RunOptions, sync_district

    data = world_dir("M")
    base = data / how
    shutil.rmtree(base, ignore_errors=True)
    use_home(base / "home", data / "otus.db")
    seeds = seeds_of(data)
    district_id = seeds[0].district_id
    t0, cpu0 = time.perf_counter(), time.process_time()
    with simulator(data / "scenario.json", db=base / "sim.db") as sim:
        register(seeds, sim.url, concurrency=8)
        if how == "synced-real":
            summary = asyncio.run(sync_district(district_id, RunOptions(build_docs=False)))
        else:
            summary = asyncio.run(sync_direct(district_id, str(base / "sim.db")))
    if summary.status != "completed":
        raise SystemExit(f"the full sync of M did not complete: {summary.status} {summary.error}")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    (base / "done").write_text(json.dumps({"how": how, "writes": summary.writes, "seconds": seconds, "cpu": cpu}))
    print(f"M fully synced ({how}): {summary.writes} writes in {seconds:.0f} s ({cpu:.0f} s CPU)", file=sys.stderr)


def typical_night(source_db: Path, district_id: str, seed: int = 11) -> dict[str, int]:
    """Mutate a copy of the source DB like a typical school night."""
    rng = random.Random(seed)
    with sqlite3.connect(source_db) as db:
        scores = db.execute(
            "SELECT s.assessment_id, s.student_id FROM otus_scores s JOIN otus_assessments a ON a.id = s.assessment_id"
            " WHERE a.district_id = ? AND s.points_earned IS NOT NULL",
            (district_id,),
        ).fetchall()
        changed = rng.sample(scores, len(scores) // 100)
        db.executemany(
            "UPDATE otus_scores SET points_earned = points_earned + 1, updated_at = CURRENT_TIMESTAMP"
            " WHERE assessment_id = ? AND student_id = ?",
            changed,
        )
        eligible = [
            r[0]
            for r in db.execute(
                "SELECT a.id FROM otus_assessments a JOIN otus_group_members g ON g.user_id = a.assigned_by AND g.district_id = a.district_id"
                " WHERE a.district_id = ? AND a.status = 'active' AND a.scoring = 'points' ORDER BY a.id",
                (district_id,),
            )
        ]
        picks = rng.sample(eligible, 25)
        for n, aid in enumerate(picks[:20]):
            new = f"{aid}-night-{n}"
            db.execute(
                "INSERT INTO otus_assessments SELECT ?, district_id, class_id, assigned_by, title || ' (new)', assessment_type,"
                " scoring, points_possible, include_in_final_grade, assign_date, due_date, status, updated_at"
                " FROM otus_assessments WHERE id = ?",
                (new, aid),
            )
            db.execute(
                "INSERT INTO otus_scores SELECT ?, student_id, points_earned, state, excluded, updated_at"
                " FROM otus_scores WHERE assessment_id = ?",
                (new, aid),
            )
        for aid in picks[20:]:
            db.execute("UPDATE otus_assessments SET title = substr(title, 1, 40) || ' v2' WHERE id = ?", (aid,))
        outside = [
            r[0]
            for r in db.execute(
                "SELECT DISTINCT a.assigned_by FROM otus_assessments a JOIN otus_users u ON u.id = a.assigned_by"
                " WHERE a.district_id = ? AND u.role = 'teacher' AND u.sis_id IS NOT NULL AND a.assigned_by NOT IN"
                " (SELECT user_id FROM otus_group_members WHERE district_id = ?) ORDER BY 1",
                (district_id, district_id),
            )
        ]
        added = rng.sample(outside, min(2, len(outside)))
        db.executemany(
            "INSERT INTO otus_group_members (district_id, user_id) VALUES (?, ?)", [(district_id, u) for u in added]
        )
    return {"scores_changed": len(changed), "new_assessments": 20, "retitled": 5, "teachers_added": len(added)}


def desired_keys(evaluation: Any) -> set[tuple[str, str, str, int]]:
    """(kind, assessment, student, payload hash) of everything the district should hold in the SIS."""
    li = evaluation.plan.line_items
    res = evaluation.plan.results
    keys = {("lineItem", a, "", int(h)) for a, h in zip(li["assessment_id"], li["payload_hash"], strict=True)}
    keys |= {
        ("result", a, s, int(h))
        for a, s, h in zip(res["assessment_id"], res["student_id"], res["payload_hash"], strict=True)
    }
    return keys


def night_setup(name: str) -> tuple[Path, Path, Any, dict[str, int]]:
    """A copy of synced M (state home, simulator DB) and of its source DB with a typical night applied."""
    data = world_dir("M")
    base = synced_m()
    run = CACHE / "runs" / name
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run)
    shutil.copy(data / "otus.db", run / "otus.db")
    seed = seeds_of(data)[0]
    night = typical_night(run / "otus.db", seed.district_id)
    return run, data / "scenario.json", seed, night


def amplification() -> dict[str, Any]:
    from passback.sync.district import RunOptions, sync_district

    data = world_dir("M")
    run, scenario, seed, night = night_setup("amplification")
    with simulator(scenario, db=run / "sim.db") as sim:
        # what changed, measured independently of the ledger: the desired state before and after the night
        use_home(run / "probe-home", data / "otus.db")
        register([seed], sim.url)
        before, _ = asyncio.run(evaluate_district(seed.district_id))
        use_home(run / "probe-home", run / "otus.db", fresh=False)
        after, _ = asyncio.run(evaluate_district(seed.district_id))
        changed = desired_keys(after) - desired_keys(before)
        use_home(run / "home", run / "otus.db", fresh=False)
        register([seed], sim.url)
        reset_stats(sim.url)
        summary = asyncio.run(sync_district(seed.district_id, RunOptions(build_docs=False)))
        stats = sim_stats(sim.url)
    writes = stats["total_writes"]
    return {
        "writes": writes,
        "changed_items": len(changed),
        "ratio": round(writes / len(changed), 4) if changed else None,
        "night": night,
        "status": summary.status,
        "changed_by_kind": {k: sum(1 for c in changed if c[0] == k) for k in ("lineItem", "result")},
    }


def throughput(name: str, *, max_writes: int, concurrency: int, **faults: Any) -> dict[str, Any]:
    """A first sync of preset S against a faulty simulator, stopped after ``max_writes`` writes."""
    from passback.sync.district import DistrictRun, RunOptions

    data = world_dir("S")
    use_home(CACHE / "runs" / name, data / "otus.db")
    seeds = seeds_of(data)
    with simulator(data / "scenario.json", **faults) as sim:
        register(seeds, sim.url, concurrency=concurrency)
        run = DistrictRun(seeds[0].district_id, RunOptions(build_docs=False, max_writes=max_writes))

        async def go() -> Any:
            with run.guarded():
                async with run.client() as client:
                    sis = await run.preflight(client)
                    evaluation = run.evaluate(run.extract(), sis)
                    reset_stats(sim.url)
                    cpu0, t0 = time.process_time(), time.perf_counter()
                    result = await run.load(client, evaluation, sis)
                    return result, time.process_time() - cpu0, time.perf_counter() - t0

        result, cpu_s, wall_s = asyncio.run(go())
        stats = sim_stats(sim.url)
    tenant = next(iter(stats["tenants"].values()))
    return {
        "writes": result.writes,
        "seconds": round(wall_s, 2),
        "writes_per_s": round(result.writes / wall_s, 2),
        "client_cpu_ms_per_write": round(1000 * cpu_s / max(result.writes, 1), 3),
        "requests": tenant["requests"],
        "throttled_429": tenant["throttled_429"],
    }


def load() -> dict[str, Any]:
    faults = {"latency_ms": 50, "concurrency_cap": 4}
    ideal = faults["concurrency_cap"] / (faults["latency_ms"] / 1000)
    out = throughput("load", max_writes=2400, concurrency=8, **faults)
    floor = bare_http_floor(requests=800, concurrency=8, ideal_per_s=ideal, **faults)
    return {**out, "ideal_per_s": ideal, "ratio": round(out["writes_per_s"] / ideal, 3), "bare_http": floor}


def bare_http_floor(*, requests: int, concurrency: int, ideal_per_s: float, **faults: Any) -> dict[str, Any]:
    """The same simulator and faults, asked through nothing but passback's HTTP path (httpx's request
    builder, ``SisHttpClient.exchange``, ``WireTransport``; ``concurrency`` connections, a GET of one
    academicSession each): the CPU one request costs this machine before any of passback's own work
    (auth, pacing, classification, payloads, ledger), and the ratio the simulator allows."""
    from passback.oneroster.transport import SisHttpClient, WireTransport

    data = world_dir("S")
    district = json.loads((data / "scenario.json").read_text())["districts"][0]
    client = district["clients"][0]

    async def go(url: str) -> tuple[float, float]:
        base = f"{url}/{district['tenant']}"
        async with SisHttpClient(WireTransport(verify=True, max_connections=concurrency)) as http:
            token = await http.post(
                f"{base}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client["client_id"], client["client_secret"]),
            )
            headers = {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}
            left = iter(range(requests))

            async def worker() -> None:
                for _ in left:
                    request = http.build_request(
                        "GET", f"{base}/ims/oneroster/v1p1/academicSessions", params={"limit": 1}, headers=headers
                    )
                    reply = await http.exchange(request)
                    await reply.aread()
                    await reply.aclose()
                    reply.raise_for_status()

            cpu0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.process_time() - cpu0, time.perf_counter() - t0

    with simulator(data / "scenario.json", **faults) as sim:
        cpu_s, wall_s = asyncio.run(go(sim.url))
    return {
        "requests": requests,
        "client_cpu_ms_per_request": round(1000 * cpu_s / requests, 3),
        "ratio": round(requests / wall_s / ideal_per_s, 3),
    }


def ratelimit() -> dict[str, Any]:
    out = throughput("ratelimit", max_writes=2400, concurrency=8, rate_limit_per_s=40)
    return {
        **out,
        "limit_per_s": 40,
        "ratio": round(out["writes_per_s"] / 40, 3),
        "pct_429": round(100 * out["throttled_429"] / max(out["requests"], 1), 2),
    }


def prefect_overhead() -> dict[str, Any]:
    from passback.sync.district import RunOptions, sync_district

    timings: dict[str, float] = {}
    writes: dict[str, int] = {}
    for variant in ("library", "flow"):
        run, scenario, seed, _ = night_setup(f"overhead-{variant}")
        with simulator(scenario, db=run / "sim.db") as sim:
            use_home(run / "home", run / "otus.db", fresh=False)
            register([seed], sim.url)
            if variant == "flow":
                asyncio.run(warm_prefect())
            reset_stats(sim.url)
            t0 = time.perf_counter()
            if variant == "flow":
                asyncio.run(run_flow(seed.district_id))
            else:
                asyncio.run(sync_district(seed.district_id, RunOptions(build_docs=True)))
            timings[variant] = time.perf_counter() - t0
            writes[variant] = sim_stats(sim.url)["total_writes"]
    return {
        "ratio": round(timings["flow"] / timings["library"], 3),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "writes": writes,
    }


def districts() -> dict[str, Any]:
    from flows.nightly import nightly

    data = world_dir("demo", 20)
    seeds = seeds_of(data)
    timings: dict[str, float] = {}
    writes: dict[str, int] = {}
    concurrency = {"concurrent": 8, "sequential": 1}
    import great_expectations  # noqa: F401 - imported once before timing, so neither variant pays it

    for variant, n in concurrency.items():
        use_home(CACHE / "runs" / f"districts-{variant}", data / "otus.db")
        with simulator(data / "scenario.json", latency_ms=30) as sim:
            register(seeds, sim.url)
            asyncio.run(warm_prefect())

            async def go(n: int = n) -> Any:
                state = await nightly(districts=[s.district_id for s in seeds], max_concurrency=n, return_state=True)
                return await state.result(raise_on_failure=False)

            t0 = time.perf_counter()
            result = asyncio.run(go())
            timings[variant] = time.perf_counter() - t0
            writes[variant] = sim_stats(sim.url)["total_writes"]
            failed = [d["district"] for d in result["districts"] if d["status"] != "completed"]
            if failed:
                raise SystemExit(f"districts scenario: {failed} did not complete")
    return {
        "speedup": round(timings["sequential"] / timings["concurrent"], 2),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "writes": writes,
        "districts": len(seeds),
        "max_concurrency": concurrency["concurrent"],
    }


def reconcile_m() -> dict[str, Any]:
    """Preset M fully synced, then ``passback reconcile`` against its simulator (pages of 1000, the
    district's rate gate): seconds, requests, objects compared; extrapolated to L.

    ``PASSBACK_BENCH_RECONCILE_FROM=DIR``: measure on another synced folder (``home/`` + ``sim.db``, e.g.
    a consistent snapshot of a synced-real folder still being prepared); the result says which.
    ``PASSBACK_BENCH_RUN_SUFFIX``: a suffix for the run's copy under ``bench/.cache/runs/``."""
    from passback.settings import get_settings
    from passback.store.db import get_engine
    from passback.sync.reconcile import reconcile

    source = os.environ.get("PASSBACK_BENCH_RECONCILE_FROM")
    base = Path(source) if source else synced_m()
    run = copy_home(base, CACHE / "runs" / f"reconcile-M{os.environ.get('PASSBACK_BENCH_RUN_SUFFIX', '')}")
    data = world_dir("M")
    use_home(run / "home", data / "otus.db", fresh=False)
    seeds = seeds_of(data)
    get_engine(get_settings().state_db_url)  # migrations (if the cache is older than the code) before timing
    with simulator(data / "scenario.json", db=run / "sim.db") as sim:
        register(seeds, sim.url)
        reset_stats(sim.url)
        t0, cpu0 = time.perf_counter(), time.process_time()
        drift = asyncio.run(reconcile(seeds[0].district_id))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        requests = sim_stats(sim.url).get("total_requests")
    per_object = seconds / max(drift.checked, 1)
    l_objects = 163_639 + 3_700_000
    l_requests = -(-163_639 // 1000) + -(-3_700_000 // 1000)
    return {
        "synced": str(base) if source else f"preset M fully synced ({base.name})",
        "checked": drift.checked,
        "edited": len(drift.edited_in_sis),
        "deleted": len(drift.deleted_in_sis),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_object": round(1000 * cpu / max(drift.checked, 1), 4),
        "requests": requests,
        "peak_rss_mb": peak_rss_mb(),
        "objects_per_s": round(drift.checked / seconds, 1),
        "l_estimate_s_at_this_speed": round(per_object * l_objects, 0),
        "l_requests_at_page_1000": l_requests,
        "l_floor_s_at_40_per_s": round(l_requests / 40, 1),
    }


def audit_size() -> dict[str, Any]:
    from bench.audit_bench import audit_size as measure

    return measure()


SCENARIOS = {
    "audit-size": audit_size,
    "reconcile-M": reconcile_m,
    "plan-L": plan_l,
    "plan-L-pg": plan_l_pg,
    "noop-L": noop_l,
    "amplification": amplification,
    "load": load,
    "ratelimit": ratelimit,
    "prefect-overhead": prefect_overhead,
    "districts": districts,
}


def record(name: str, result: dict[str, Any]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = {"date": dt.date.today().isoformat(), "machine": machine(), **result}
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", choices=[*SCENARIOS, "all"])
    parser.add_argument("--json", action="store_true", help="print ONE JSON object on stdout")
    parser.add_argument("--prepare", nargs=2, metavar=("PRESET", "DISTRICTS"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare-ledger", metavar="PRESET", help=argparse.SUPPRESS)
    parser.add_argument("--prepare-synced-m", metavar="HOW", help=argparse.SUPPRESS)
    parser.add_argument("--prepare-pg", metavar="PRESET", help=argparse.SUPPRESS)
    parser.add_argument("--night-before", metavar="DISTRICT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # as the CLI (passback/cli/__init__.py): a first temporary Prefect server migrates its new
    # database, which outlasts Prefect's 20 s default on a busy or slow machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if args.prepare:
        return prepare(args.prepare[0], int(args.prepare[1]))
    if args.prepare_ledger:
        return prepare_ledger(args.prepare_ledger)
    if args.prepare_synced_m:
        return prepare_synced_m(args.prepare_synced_m)
    if args.prepare_pg:
        return prepare_pg(args.prepare_pg)
    if args.night_before:
        return print(asyncio.run(run_flow(args.night_before))["status"], file=sys.stderr)
    if args.scenario is None:
        parser.error("a SCENARIO is required")
    if args.scenario == "all":
        out = {}
        for name in QUICK:  # each in its own process (peak RSS, a fresh event loop and Prefect client)
            done = subprocess.run(
                [sys.executable, __file__, name, "--json"], capture_output=True, text=True, check=True
            )
            out[name] = json.loads(done.stdout)
    else:
        out = SCENARIOS[args.scenario]()
        record(args.scenario, out)
    print(json.dumps(out, default=str) if args.json else json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
