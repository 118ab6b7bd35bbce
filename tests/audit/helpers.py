"""Audit tests' helpers: simulated nights, another client of the SIS (a teacher's gradebook) editing
objects behind passback's back, the SIS's grading period record (the fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.toolkit import LOOPBACK, UTC_NOW, Sis


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
    token = LOOPBACK.post(token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()
    return api, {"Authorization": f"Bearer {token['access_token']}"}


def teacher_put(
    sis: Sis, collection: str, sourced_id: str, envelope: str, changes: dict[str, Any], tenant: str = "d1"
) -> dict[str, Any]:
    """Another client edits an object in the SIS: GET it, change fields, PUT it back whole."""
    api, headers = _other_client(sis, tenant)
    current = LOOPBACK.get(f"{api}/{collection}/{sourced_id}", headers=headers).raise_for_status().json()[envelope]
    current.update(changes)
    LOOPBACK.put(f"{api}/{collection}/{sourced_id}", json={envelope: current}, headers=headers).raise_for_status()
    return current


def teacher_delete(sis: Sis, collection: str, sourced_id: str, tenant: str = "d1") -> None:
    api, headers = _other_client(sis, tenant)
    LOOPBACK.delete(f"{api}/{collection}/{sourced_id}", headers=headers).raise_for_status()


def sync_on(n: int, district_id: str = "d1", **options: Any) -> Any:
    """One sync of district ``district_id`` on the n-th simulated night."""
    import asyncio

    from passback.sync.district import RunOptions, sync_district

    return asyncio.run(sync_district(district_id, RunOptions(utc_now=night(n), build_docs=False, **options)))


def sis_period(sis: Sis, period_id: str, tenant: str = "d1") -> dict[str, Any]:
    """The SIS's grading period record, as any client reads it."""
    api, headers = _other_client(sis, tenant)
    return (
        LOOPBACK.get(f"{api}/academicSessions/{period_id}", headers=headers)
        .raise_for_status()
        .json()["academicSession"]
    )
