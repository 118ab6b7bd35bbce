"""Report fixtures: the demo district synced (library run, no Prefect) against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from passback.settings import get_settings


@pytest.fixture
def demo_sync(home: Path) -> Iterator[Callable[..., Any]]:
    """The demo world (seed 7) in the source DB, its SIS side on loopback, the district registered;
    yields ``sync(**options)`` running one library district run with the report."""
    from passback.cli.demo import register_world
    from passback.simulator.server import SimulatorThread
    from passback.source.generate import generate
    from passback.source.write import write_world
    from passback.sync.district import RunOptions, sync_district

    world = generate("demo", seed=7)
    write_world(world, get_settings().source_db_url, home / "scenario.json")
    with SimulatorThread(home / "scenario.json") as sim:
        register_world(world, sim.url)

        def sync(**options: Any) -> Any:
            # a thread of its own: Playwright's sync API keeps an event loop running in this one
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(asyncio.run, sync_district("demo", RunOptions(**options))).result()

        yield sync
