"""Fixtures of the guards' tests: the ordinary district (tests.guards.helpers) as the Otus source and
its SIS side in the simulator on loopback; ``after_history``: the same after its ordinary history."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from passback.settings import get_settings
from tests.factory import World, write_source
from tests.guards.helpers import guard_world, ordinary_history
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


@dataclass(frozen=True)
class History:
    """A district after ``ordinary_history``: its PASSBACK_HOME, the simulator's database, the world."""

    home: Path
    sim_db: Path
    world: World


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """``ordinary_history`` run once per test process (three real nights, ~1,300 writes) and kept as
    files; ``after_history`` gives each test its own copy."""
    from passback.scenario import Scenario
    from passback.simulator.server import SimulatorThread
    from tests.factory import scenario_for
    from tests.prefect_stack import passback_home

    base = tmp_path_factory.mktemp("guards-history")
    home, sim_db = base / "home", base / "simulator.db"
    home.mkdir()
    w = guard_world()
    with passback_home(home):
        write_source(w, get_settings().source_db_url)
        with SimulatorThread(Scenario(districts=[scenario_for(guard_world())]), db_path=str(sim_db)) as server:
            register("d1", server.url)
            ordinary_history(w)
    return History(home, sim_db, w)


@pytest.fixture
def after_history(home: Path, history: History) -> Iterator[tuple[Sis, World]]:
    """The simulator and the world of a district that has had its first night and two ordinary ones
    (a copy of ``history``: its state DB, Otus source and gradebook); the world is this test's to change."""
    from passback.scenario import Scenario
    from passback.simulator.server import SimulatorThread, tenant_urls
    from passback.store.db import forget_engines, get_engine
    from passback.store.districts import update_district
    from tests.factory import scenario_for

    shutil.copytree(history.home, home, dirs_exist_ok=True)
    shutil.copy(history.sim_db, home / "simulator.db")
    forget_engines()
    with SimulatorThread(
        Scenario(districts=[scenario_for(guard_world())]), db_path=str(home / "simulator.db")
    ) as server:
        api, token = tenant_urls(server.url, "d1")
        update_district(get_engine(get_settings().state_db_url), "d1", base_url=api, token_url=token)
        yield Sis(server.url), copy.deepcopy(history.world)
