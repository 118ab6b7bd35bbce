"""The simulator tests' scenario, an in-process API client and request bodies (fixtures: conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx

from passback.scenario import ALL_SCOPES, SisClient, SisDistrict
from tests.sis_district import sis_district

API = "/ims/oneroster/v1p1"
SECRETS = {"d1": "d1-secret-0123456789", "d2": "d2-secret-9876543210"}
READ_ONLY = [s for s in ALL_SCOPES if s.endswith("readonly")]


def district(tenant: str) -> SisDistrict:
    """``tests.sis_district`` with the co-teacher t2, the write client and a read-only one."""
    clients = [
        SisClient(client_id=f"otus-{tenant}", client_secret=SECRETS[tenant]),
        SisClient(client_id=f"reader-{tenant}", client_secret=SECRETS[tenant], scopes=READ_ONLY),
    ]
    return sis_district(tenant, clients, co_teacher=True)


async def get_token(
    http: httpx.AsyncClient,
    tenant: str = "d1",
    client_id: str | None = None,
    secret: str | None = None,
    scope: str | None = None,
) -> str:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    r = await http.post(
        f"/{tenant}/oauth/token", data=data, auth=(client_id or f"otus-{tenant}", secret or SECRETS[tenant])
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


class Api:
    """Calls one tenant's OneRoster API with a bearer token."""

    def __init__(self, http: httpx.AsyncClient, tenant: str, token: str) -> None:
        self.http, self.tenant, self.token = http, tenant, token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str) -> str:
        return f"/{self.tenant}{API}{path}"

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(self.url(path), params=params, headers=self.headers)

    async def put(self, path: str, body: Any) -> httpx.Response:
        return await self.http.put(self.url(path), json=body, headers=self.headers)

    async def put_raw(self, path: str, content: bytes) -> httpx.Response:
        return await self.http.put(
            self.url(path), content=content, headers={**self.headers, "Content-Type": "application/json"}
        )

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(self.url(path), headers=self.headers)


def line_item(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Fractions quiz",
        "description": "",
        "assignDate": "2026-11-02T00:00:00Z",
        "dueDate": "2026-11-09T00:00:00Z",
        "class": {"href": "/classes/c1", "sourcedId": "c1", "type": "class"},
        "category": {"sourcedId": "cat-quiz", "type": "category"},
        "gradingPeriod": {"sourcedId": "gp-q2"},
        "resultValueMin": 0,
        "resultValueMax": 10,
        "status": "active",
    }
    body.update(overrides)
    return {"lineItem": {k: v for k, v in body.items() if v is not ...}}


def result(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lineItem": {"sourcedId": "li-1"},
        "student": {"sourcedId": "s1"},
        "scoreStatus": "fully graded",
        "score": 8.5,
        "scoreDate": "2026-11-10",
        "comment": "",
    }
    body.update(overrides)
    return {"result": {k: v for k, v in body.items() if v is not ...}}


def status_of(response: httpx.Response) -> dict[str, Any]:
    """The single statusInfoSet entry of an error body."""
    entries = response.json()["statusInfoSet"]
    assert len(entries) == 1 and entries[0]["imsx_codeMajor"] == "failure"
    return dict(entries[0])


def token_of(response: httpx.Response) -> str:
    """The machine-readable token at the start of imsx_description."""
    return status_of(response)["imsx_description"].split(":", 1)[0]
