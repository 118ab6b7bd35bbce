"""Audit, drift and healing refusals: the factory world in the Otus source DB, the simulator as a real
server on loopback, district d1 registered — on each state DB backend (``state_url``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.e2e.conftest import UTC_NOW, Sis, factory_world, register  # noqa: F401 - fixtures and helpers
from tests.factory import World, scenario_for, write_source


@pytest.fixture
def sis(state_url: str, factory_world: World) -> Iterator[Sis]:  # noqa: F811 - the fixture imported above
    from passback.simulator.server import SimulatorThread

    write_source(factory_world, get_settings().source_db_url)
    scenario = Scenario(districts=[scenario_for(factory_world)])
    with SimulatorThread(scenario) as server:
        register("d1", server.url)
        sis = Sis(server.url)
        sis.scenario = scenario  # type: ignore[attr-defined]
        yield sis


def night(n: int) -> dt.datetime:
    """The UTC now of the n-th night after the first (simulated nights: ``RunOptions.utc_now``)."""
    return UTC_NOW + dt.timedelta(days=n)


TEACHER_CLIENT = ("skyward-gradebook", "another-client-secret-42")  # not passback's client


def _other_client(sis: Sis, tenant: str) -> tuple[str, dict[str, str]]:
    """(API base, auth headers) of another client of the SIS (a teacher's gradebook, another tool)."""
    from passback.simulator.server import tenant_urls

    client_id, secret = TEACHER_CLIENT
    sis.admin("POST", f"tenants/{tenant}/clients", json={"client_id": client_id, "client_secret": secret})
    api, token_url = tenant_urls(sis.url, tenant)
    token = httpx.post(token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()
    return api, {"Authorization": f"Bearer {token['access_token']}"}


def teacher_put(sis: Sis, collection: str, sourced_id: str, envelope: str, changes: dict[str, Any],
                tenant: str = "d1") -> dict[str, Any]:
    """Another client edits an object in the SIS: GET it, change fields, PUT it back whole."""
    api, headers = _other_client(sis, tenant)
    current = httpx.get(f"{api}/{collection}/{sourced_id}", headers=headers).raise_for_status().json()[envelope]
    current.update(changes)
    httpx.put(f"{api}/{collection}/{sourced_id}", json={envelope: current}, headers=headers).raise_for_status()
    return current


def teacher_delete(sis: Sis, collection: str, sourced_id: str, tenant: str = "d1") -> None:
    api, headers = _other_client(sis, tenant)
    httpx.delete(f"{api}/{collection}/{sourced_id}", headers=headers).raise_for_status()


def sync_on(n: int, district_id: str = "d1", **options: Any) -> Any:
    """One sync of district ``district_id`` on the n-th simulated night."""
    import asyncio

    from passback.sync.district import RunOptions, sync_district

    return asyncio.run(sync_district(district_id, RunOptions(utc_now=night(n), build_docs=False, **options)))


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


def sis_period(sis: Sis, period_id: str, tenant: str = "d1") -> dict[str, Any]:
    """The SIS's grading period record, as any client reads it."""
    api, headers = _other_client(sis, tenant)
    return httpx.get(f"{api}/academicSessions/{period_id}", headers=headers).raise_for_status().json()["academicSession"]
