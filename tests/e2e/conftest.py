"""End-to-end fixtures: a factory world in the Otus source DB, the simulator as a real server on
loopback seeded with the matching SIS side, and the district registered against it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from passback.store import districts as store
from passback.store.db import get_engine
from passback.sync.district import RunOptions, sync_district
from passback.sync.report import DistrictSummary
from tests.factory import CLIENT_ID, CLIENT_SECRET, MAPPING, TODAY, World, scenario_for, world, write_source

UTC_NOW = dt.datetime.combine(TODAY, dt.time(16, 0), tzinfo=dt.UTC)  # 10:00 in Chicago


@dataclass
class Sis:
    url: str

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = httpx.request(method, f"{self.url}/admin/{path.lstrip('/')}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def state(self, tenant: str = "d1") -> dict[str, Any]:
        return self.admin("GET", "state", params={"tenant": tenant}).json()

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "stats").json()


def register(district_id: str, sis_url: str, **overrides: Any) -> None:
    from passback.simulator.server import tenant_urls

    api, token = tenant_urls(sis_url, overrides.pop("tenant", district_id))
    engine = get_engine(get_settings().state_db_url)
    spec = dict(id=district_id, name=f"District {district_id}", base_url=api, token_url=token, client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET, effective_date=dt.date(2026, 8, 17), timezone="America/Chicago")
    spec.update(overrides)
    store.add_district(engine, store.DistrictSpec(**spec))
    store.set_mapping(engine, district_id, dict(MAPPING))


def run_sync(district_id: str = "d1", **options: Any) -> DistrictSummary:
    opts = RunOptions(utc_now=UTC_NOW, build_docs=False, **options)
    return asyncio.run(sync_district(district_id, opts))


@pytest.fixture
def factory_world() -> World:
    from tests.factory import assessment, score

    rows = [assessment(id="a-1"), assessment(id="a-2", title="Lab report", assessment_type="Lab"),
            assessment(id="a-3", assigned_by="u-t2", title="Co-teacher quiz")]
    scores = [score(assessment_id=a, student_id=s, points_earned=p)
              for a in ("a-1", "a-2", "a-3") for s, p in (("u-s1", 7.0), ("u-s2", 9.5))]
    return world(rows, scores, group=["u-t1"])


@pytest.fixture
def sis(home: Path, factory_world: World) -> Iterator[Sis]:
    """Source DB + simulator (a real uvicorn server on 127.0.0.1) + district d1 registered."""
    from passback.simulator.server import SimulatorThread

    write_source(factory_world, get_settings().source_db_url)
    scenario = Scenario(districts=[scenario_for(factory_world)])
    with SimulatorThread(scenario) as server:
        register("d1", server.url)
        yield Sis(server.url)


def rewrite_source(w: World) -> None:
    write_source(w, get_settings().source_db_url)
