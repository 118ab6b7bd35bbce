"""End-to-end fixtures: a factory world in the Otus source DB, the simulator as a real server on
loopback seeded with the matching SIS side, and the district registered against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import World, scenario_for, write_source
from tests.toolkit import Sis, register


@pytest.fixture
def sis(home: Path, factory_world: World) -> Iterator[Sis]:
    """Source DB + simulator (a real uvicorn server on 127.0.0.1) + district d1 registered."""
    from passback.simulator.server import SimulatorThread

    write_source(factory_world, get_settings().source_db_url)
    scenario = Scenario(districts=[scenario_for(factory_world)])
    with SimulatorThread(scenario) as server:
        register("d1", server.url)
        yield Sis(server.url)
