"""`passback demo`: a whole night on one machine — seed, simulator, register, nightly flow, summary."""

from __future__ import annotations

import json
from typing import Any

from passback.cli.common import console, engine
from passback.settings import get_settings


def register_world(world: Any, sim_url: str, *, verify_tls: bool = True) -> None:
    """Register (or re-point) the world's districts at a running simulator."""
    from passback.simulator.server import tenant_urls
    from passback.store import districts as store

    eng = engine()
    known = {d.id for d in store.list_districts(eng)}
    for seed in world.seeds:
        api, token = tenant_urls(sim_url, seed.district_id)
        if seed.district_id in known:
            store.update_district(eng, seed.district_id, base_url=api, token_url=token, client_id=seed.client_id,
                                  client_secret=seed.client_secret)
        else:
            store.add_district(eng, store.DistrictSpec(
                id=seed.district_id, name=seed.name, base_url=api, token_url=token, client_id=seed.client_id,
                client_secret=seed.client_secret, timezone=seed.timezone, effective_date=seed.effective_date,
                verify_tls=verify_tls))
            store.set_mapping(eng, seed.district_id, dict(seed.mapping))
            store.set_closed_periods_config(eng, seed.district_id, list(seed.closed_grading_period_ids))


def run_demo(*, fresh: bool, port: int) -> None:
    from passback.cli.runs import print_summary, run_nightly
    from passback.simulator.server import SimulatorProcess
    from passback.source.generate import generate
    from passback.source.write import write_world

    settings = get_settings()
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    scenario_path = home / "scenario.json"
    sim_db = home / "simulator.db"
    marker = home / "demo.json"
    if fresh:
        for path in (marker, sim_db, home / "state.db", home / "otus.db"):
            path.unlink(missing_ok=True)
    world = generate("demo", seed=7)
    if not marker.exists():
        write_world(world, settings.source_db_url, scenario_path)
        marker.write_text(json.dumps({"preset": "demo", "seed": 7, "counts": world.counts}, default=str))
        console.print(f"seeded the demo district: {world.counts}")
    else:
        console.print("demo data exists (use --fresh to start over): reusing it")
    with SimulatorProcess(scenario_path, db_path=str(sim_db), port=port) as sim:
        console.print(f"Skyward simulator on {sim.url}")
        register_world(world, sim.url)
        result = run_nightly([s.district_id for s in world.seeds], dry_run=False, retry_rejected=False, concurrency=4, max_seconds=None)
    print_summary(result)
    console.print(f"state DB: {settings.state_db_url}; rerun `passback demo` to see a run that writes nothing.")
