"""Audit, drift and healing refusals: the factory world in the Otus source DB, the simulator as a real
server on loopback, district d1 registered — on each state DB backend (``state_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import World, scenario_for, write_source
from tests.toolkit import Sis, register


@pytest.fixture
def sis(state_url: str, factory_world: World) -> Iterator[Sis]:
    from passback.simulator.server import SimulatorThread

    write_source(factory_world, get_settings().source_db_url)
    scenario = Scenario(districts=[scenario_for(factory_world)])
    with SimulatorThread(scenario) as server:
        register("d1", server.url)
        sis = Sis(server.url)
        sis.scenario = scenario  # type: ignore[attr-defined]
        yield sis


@pytest.fixture
def late_enrolment(state_url: str, factory_world: World) -> Iterator[tuple[Sis, Any]]:
    """The world with student sky-s2 enrolled in Otus's class but not (yet) in the SIS's: (sis, the
    enrollment to add later)."""
    from passback.simulator.server import SimulatorThread

    write_source(factory_world, get_settings().source_db_url)
    district = scenario_for(factory_world)
    missing = [e for e in district.enrollments if e.userSourcedId == "sky-s2"]
    district.enrollments = [e for e in district.enrollments if e.userSourcedId != "sky-s2"]
    with SimulatorThread(Scenario(districts=[district])) as server:
        register("d1", server.url)
        yield Sis(server.url), missing
