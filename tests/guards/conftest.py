"""Fixtures of the guards' tests: the ordinary district (tests.guards.helpers) as the Otus source and
its SIS side in the simulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from passback.settings import get_settings
from tests.factory import World, write_source
from tests.guards.helpers import guard_world
from tests.toolkit import Sis, register


@pytest.fixture
def gw() -> World:
    return guard_world()


@pytest.fixture
def sis(home: Path, gw: World) -> Iterator[Sis]:
    from passback.scenario import Scenario
    from passback.simulator.server import SimulatorThread
    from tests.factory import scenario_for

    write_source(gw, get_settings().source_db_url)
    with SimulatorThread(Scenario(districts=[scenario_for(gw)])) as server:
        register("d1", server.url)
        yield Sis(server.url)
