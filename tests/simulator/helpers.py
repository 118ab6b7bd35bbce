"""The simulator tests' scenario, an in-process API client and request bodies (fixtures: conftest.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from passback.scenario import (
    ALL_SCOPES,
    SisAcademicSession,
    SisCategory,
    SisClass,
    SisClient,
    SisDistrict,
    SisEnrollment,
    SisOrg,
    SisUser,
)

API = "/ims/oneroster/v1p1"
SECRETS = {"d1": "d1-secret-0123456789", "d2": "d2-secret-9876543210"}
READ_ONLY = [s for s in ALL_SCOPES if s.endswith("readonly")]


def district(tenant: str) -> SisDistrict:
    """Term 2026-27 with Q1 (closed), Q2, Q3; classes c1 (s1, s2) and c2 (s3); s4 in no class;
    categories: quiz and test (active, district level), old (inactive), school (school level)."""
    d = dt.date
    periods = [
        ("gp-q1", "Q1", d(2026, 8, 17), d(2026, 10, 16), True),
        ("gp-q2", "Q2", d(2026, 10, 19), d(2026, 12, 18), False),
        ("gp-q3", "Q3", d(2027, 1, 4), d(2027, 3, 12), False),
    ]
    sessions = [
        SisAcademicSession(
            sourcedId="sy-2027",
            title="2026-2027",
            type="schoolYear",
            startDate=d(2026, 8, 17),
            endDate=d(2027, 6, 4),
            schoolYear="2027",
        ),
        SisAcademicSession(
            sourcedId="term-1",
            title="Year",
            type="term",
            startDate=d(2026, 8, 17),
            endDate=d(2027, 6, 4),
            parent="sy-2027",
            schoolYear="2027",
        ),
    ]
    sessions += [
        SisAcademicSession(
            sourcedId=sid,
            title=title,
            type="gradingPeriod",
            startDate=start,
            endDate=end,
            parent="term-1",
            schoolYear="2027",
            closed=closed,
        )
        for sid, title, start, end, closed in periods
    ]
    users = [
        SisUser(sourcedId="t1", givenName="Ada", familyName="Teach", role="teacher", orgs=["sch-1"]),
        SisUser(sourcedId="t2", givenName="Bo", familyName="Coteach", role="teacher", orgs=["sch-1"]),
    ]
    users += [
        SisUser(sourcedId=f"s{i}", givenName=f"Student{i}", familyName="Pupil", role="student", orgs=["sch-1"])
        for i in range(1, 5)
    ]
    enrollments = [
        SisEnrollment(
            sourcedId=f"e-{c}-{u}",
            classSourcedId=c,
            userSourcedId=u,
            role="teacher" if u.startswith("t") else "student",
            primary=u == "t1",
        )
        for c, u in (("c1", "t1"), ("c1", "t2"), ("c1", "s1"), ("c1", "s2"), ("c2", "t2"), ("c2", "s3"))
    ]
    return SisDistrict(
        tenant=tenant,
        org=SisOrg(sourcedId="org-1", name=f"District {tenant}"),
        schools=[SisOrg(sourcedId="sch-1", name="Middle School", type="school", parent="org-1")],
        academicSessions=sessions,
        classes=[
            SisClass(sourcedId="c1", title="Math 6", school="sch-1", terms=["term-1"], classCode="M6"),
            SisClass(sourcedId="c2", title="Science 6", school="sch-1", terms=["term-1"]),
        ],
        users=users,
        enrollments=enrollments,
        categories=[
            SisCategory(sourcedId="cat-quiz", title="Quiz"),
            SisCategory(sourcedId="cat-test", title="Test"),
            SisCategory(sourcedId="cat-old", title="Old", status="tobedeleted"),
            SisCategory(sourcedId="cat-school", title="School only", districtLevel=False),
        ],
        clients=[
            SisClient(client_id=f"otus-{tenant}", client_secret=SECRETS[tenant]),
            SisClient(client_id=f"reader-{tenant}", client_secret=SECRETS[tenant], scopes=READ_ONLY),
        ],
    )


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
