"""`passback demo`: a whole night on one machine — seed, simulator, register, nightly flow, summary —
and a district left to explore afterwards.

The demo district is registered at a fixed port (``--port``, default 8765, kept in
``$PASSBACK_HOME/demo.json``), so after the demo `passback sim serve` (no arguments) serves the
demo's world again there — its scenario and simulator DB under PASSBACK_HOME — and `doctor`,
`explain`, `sync --dry-run` work; or `passback demo --serve` keeps the simulator up.  The
simulator process dies with the CLI, even on ``kill -9`` (``ephemeral.die_with_parent``).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from passback.cli.common import console, engine, safe
from passback.settings import get_settings

DEMO_PORT = 8765


def register_world(world: Any, sim_url: str, *, verify_tls: bool = True, guide_mapping: bool = False) -> None:
    """Register (or re-point) the world's districts at a running simulator.  ``guide_mapping``: map
    the 12 Otus types as the admin guide's example does (what `doctor` accepts), instead of the
    world's own mapping (which, with planted violations, points one type at an inactive category)."""
    from passback.simulator.server import tenant_urls
    from passback.source.sis import category_mapping
    from passback.store import districts as store

    eng = engine()
    known = {d.id for d in store.list_districts(eng)}
    for seed in world.seeds:
        api, token = tenant_urls(sim_url, seed.district_id)
        mapping = category_mapping(with_retired=False) if guide_mapping else dict(seed.mapping)
        if seed.district_id in known:
            store.update_district(
                eng,
                seed.district_id,
                base_url=api,
                token_url=token,
                client_id=seed.client_id,
                client_secret=seed.client_secret,
            )
        else:
            store.add_district(
                eng,
                store.DistrictSpec(
                    id=seed.district_id,
                    name=seed.name,
                    base_url=api,
                    token_url=token,
                    client_id=seed.client_id,
                    client_secret=seed.client_secret,
                    timezone=seed.timezone,
                    effective_date=seed.effective_date,
                    verify_tls=verify_tls,
                ),
            )
            store.set_closed_periods_config(eng, seed.district_id, list(seed.closed_grading_period_ids))
            store.set_mapping(eng, seed.district_id, mapping)


def counts_sentence(counts: dict[str, Any], planted: int | None = None) -> str:
    """The generator's counts as a sentence (not a Python dict)."""
    c = {k: int(v) for k, v in counts.items()}
    districts = c.get("districts", 1)
    text = (
        f"{districts} district{'s' if districts != 1 else ''} with {c.get('classes', 0):,} classes, "
        f"{c.get('users', 0):,} users ({c.get('group_members', 0):,} in the passback teacher group), "
        f"{c.get('assessments', 0):,} assessments and {c.get('scores', 0):,} scores"
    )
    held = planted if planted is not None else c.get("planted_assessments", 0)
    extras = [
        f"{held:,} assessments that each break one passback rule" if held else "",
        f"{c.get('excluded_scores', 0):,} excluded" if c.get("excluded_scores") else "",
        f"{c.get('invalid_scores', 0):,} invalid scores" if c.get("invalid_scores") else "",
        f"{c.get('students_without_sis_id', 0):,} students without a Skyward id"
        if c.get("students_without_sis_id")
        else "",
    ]
    extras = [e for e in extras if e]
    return text + ("; on purpose, to show the report: " + ", ".join(extras) if extras else "") + "."


def demo_port(home: Path) -> int | None:
    """The port the demo district was registered at (None when no demo ran here)."""
    try:
        return int(json.loads((home / "demo.json").read_text()).get("port") or 0) or None
    except (OSError, ValueError, AttributeError):
        return None


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def demo(
    fresh: Annotated[
        bool, typer.Option("--fresh", help="start over: new demo data, empty gradebook and ledger")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", help="the simulator's port on 127.0.0.1, registered as the demo district's SIS")
    ] = DEMO_PORT,
    serve: Annotated[
        bool, typer.Option("--serve", help="keep the simulator running after the run (Ctrl-C stops it)")
    ] = False,
) -> None:
    """Seed a demo district, start the simulator on loopback, run the nightly flow, print the summary and what to try next."""
    run_demo(fresh=fresh, port=port, serve=serve)


def run_demo(*, fresh: bool, port: int, serve: bool = False) -> None:
    from passback.cli.ephemeral import die_with_parent
    from passback.cli.runs import print_summary, run_nightly
    from passback.simulator.server import SimulatorProcess
    from passback.source.generate import generate
    from passback.source.write import write_world

    settings = get_settings()
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    scenario_path, sim_db, marker = home / "scenario.json", home / "simulator.db", home / "demo.json"
    if port and port_in_use(port):
        raise typer.BadParameter(
            f"port {port} on 127.0.0.1 is in use — a `passback sim serve` still running? stop it "
            "(Ctrl-C in its terminal), or give the demo another port: `passback demo --port N`",
            param_hint="--port",
        )
    if fresh:
        for path in (marker, sim_db, home / "state.db", home / "otus.db"):
            path.unlink(missing_ok=True)
    world = generate("demo", seed=7)
    planted = int((world.planted["kind"] != "category_not_in_sis").sum())  # the guide's mapping: Journal rows pass
    if not marker.exists():
        write_world(world, settings.source_db_url, scenario_path)
        console.print(f"Seeded the demo: {counts_sentence(world.counts, planted)}")
    else:
        console.print("Demo data exists (`passback demo --fresh` starts over): reusing it.")
    with SimulatorProcess(
        scenario_path, db_path=str(sim_db), port=port, preexec_fn=die_with_parent(os.getpid())
    ) as sim:
        console.print(f"Skyward simulator (the demo district's SIS) on {sim.url}")
        register_world(world, sim.url, guide_mapping=True)
        marker.write_text(
            json.dumps({"preset": "demo", "seed": 7, "counts": world.counts, "port": sim.port}, default=str)
        )
        result = run_nightly(
            [s.district_id for s in world.seeds], dry_run=False, retry_rejected=False, concurrency=4, max_seconds=None
        )
        print_summary(result)
        next_steps(world, result, sim.url, serving=serve)
        if serve:
            wait_for_interrupt()


def next_steps(world: Any, result: dict[str, Any], url: str, *, serving: bool) -> None:
    """The demo's last lines: what to try next (the README's next commands)."""
    ids = [s.district_id for s in world.seeds]
    d = ids[0]
    held = world.planted.loc[world.planted["kind"] == "title_too_long", "assessment_id"]
    example = str(held.iloc[0]) if len(held) else str(world.assessments["id"].iloc[0])
    writes = sum(int(s.get("writes") or 0) for s in result["districts"])
    console.print()
    if writes:
        console.print("Run `passback demo` again: the second run finds nothing changed and writes nothing.")
    if serving:
        console.print(f"The simulator keeps serving the demo's SIS at {url} until Ctrl-C. In another terminal, try:")
    else:
        console.print(
            f"The simulator stopped with the demo. To explore: `passback sim serve` (another terminal) serves "
            f"the demo's SIS again at {url} — or run `passback demo --serve` — then try:"
        )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for command, what in (
        (f"passback doctor {d}", "the pre-flight checks of the district"),
        (f"passback explain {d} {example}", "why one assessment (and each score) did or did not pass back"),
        (f"passback sync --district {d} --dry-run", "what a sync would write now"),
        (f"passback runs {d}", "the run history"),
        ("passback report serve", "the validation reports in a browser"),
    ):
        grid.add_row(f"  {safe(command)}", what)
    console.print(grid, highlight=False)


def wait_for_interrupt() -> None:
    import threading

    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopped the simulator.")
