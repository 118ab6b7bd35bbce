"""`passback sim serve` (the bundled Skyward simulator) and `passback seed` (synthetic Otus data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from passback.cli.common import console
from passback.settings import get_settings

sim_app = typer.Typer(no_args_is_help=True, help="The bundled Skyward OneRoster 1.1 simulator.")


@sim_app.command("serve")
def serve(
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help="default: the demo district's port (8765) — after `passback demo`, no option is needed"
        ),
    ] = None,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="scenario JSON (default: <home>/scenario.json if present)")
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="SQLite file for the simulator's state (default: <home>/simulator.db; ':memory:' for none)"
        ),
    ] = None,
    latency_ms: Annotated[float, typer.Option("--latency-ms")] = 0.0,
    latency_jitter_ms: Annotated[float, typer.Option("--latency-jitter-ms")] = 0.0,
    concurrency_cap: Annotated[int | None, typer.Option("--concurrency-cap")] = None,
    rate_limit: Annotated[
        float | None, typer.Option("--rate-limit", help="writes/s token bucket (429 + Retry-After)")
    ] = None,
    error_rate: Annotated[float, typer.Option("--error-rate", help="share of 500/503 answers")] = 0.0,
    hang_rate: Annotated[float, typer.Option("--hang-rate")] = 0.0,
    drop_rate: Annotated[float, typer.Option("--drop-rate")] = 0.0,
    throttle_rate: Annotated[float, typer.Option("--throttle-rate", help="share answered 429 at random")] = 0.0,
    token_lifetime: Annotated[float, typer.Option("--token-lifetime", help="seconds")] = 3600.0,
) -> None:
    """Serve the simulator on loopback until interrupted (faults can be changed at POST /admin/faults).

    With no options, after `passback demo`: the demo's world (its scenario and gradebook under
    PASSBACK_HOME) at the port the demo district is registered at."""
    from passback.cli.demo import DEMO_PORT, demo_port
    from passback.simulator.faults import FaultConfig
    from passback.simulator.server import run_server

    home = get_settings().home
    port = port if port is not None else (demo_port(home) or DEMO_PORT)
    scenario = scenario or (home / "scenario.json" if (home / "scenario.json").exists() else None)
    faults = FaultConfig(
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        concurrency_cap=concurrency_cap,
        rate_limit_per_s=rate_limit,
        error_rate=error_rate,
        hang_rate=hang_rate,
        drop_rate=drop_rate,
        throttle_rate=throttle_rate,
        token_lifetime_s=token_lifetime,
    )
    where = f"http://{host}:{port}" if port else f"{host}, a free port (see 'listening on' below)"
    console.print(
        f"Skyward simulator on {where} (scenario: {scenario or 'empty'}); tenant T at /T/ims/oneroster/v1p1, "
        "token /T/oauth/token; Ctrl-C stops it"
    )
    run_server(scenario, host, port, db or str(home / "simulator.db"), faults)


def seed(
    preset: Annotated[str, typer.Option("--preset", help="demo | XS | S | M | L")] = "demo",
    seed_: Annotated[int, typer.Option("--seed")] = 7,
    violation_rate: Annotated[float | None, typer.Option("--violation-rate", min=0, max=1)] = None,
    districts: Annotated[int, typer.Option("--districts", min=1)] = 1,
    register: Annotated[
        str | None, typer.Option("--register", help="simulator URL: also register the districts against it")
    ] = None,
) -> None:
    """Generate synthetic Otus data (PASSBACK_SOURCE_URL) and the matching SIS scenario (<home>/scenario.json)."""
    from passback.cli.demo import counts_sentence, register_world
    from passback.source.generate import generate
    from passback.source.write import write_world

    settings = get_settings()
    world = generate(preset, seed=seed_, violation_rate=violation_rate, districts=districts)
    scenario_path = settings.home / "scenario.json"
    write_world(world, settings.source_db_url, scenario_path)
    # registered with the guide's mapping (what `doctor` accepts), the rows planted as category_not_in_sis pass
    planted = int((world.planted["kind"] != "category_not_in_sis").sum()) if register else None
    console.print(
        f"Seeded {preset}: {counts_sentence(world.counts, planted)}\nOtus source → {settings.source_db_url}; "
        f"SIS scenario → {scenario_path}",
        highlight=False,
    )
    if register:
        register_world(world, register, guide_mapping=True)
        console.print(f"registered {', '.join(s.district_id for s in world.seeds)} against {register}")
    else:
        console.print(
            f"next: `passback sim serve --scenario {scenario_path}` and `passback seed --preset {preset} --register http://127.0.0.1:8765`"
        )
