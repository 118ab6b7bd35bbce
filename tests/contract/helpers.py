"""The contract tests' scenario and bodies (the fixtures are in conftest.py).

A small hand-built scenario: district d1 (and d2, for isolation) with Q1 closed, Q2 and Q3 open;
classes c1 (s1, s2) and c2 (s3); s4 in no class; categories quiz/test (active, district level),
old (inactive) and school (school level).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from passback.scenario import (
    Scenario,
    SisAcademicSession,
    SisCategory,
    SisClass,
    SisClient,
    SisDistrict,
    SisEnrollment,
    SisOrg,
    SisUser,
)
from passback.simulator.server import tenant_urls

__all__ = ["SECRETS", "district", "line_item", "result", "scenario", "tenant_urls"]

SECRETS = {"d1": "d1-contract-secret-42", "d2": "d2-contract-secret-43"}


def district(tenant: str) -> SisDistrict:
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
    users = [SisUser(sourcedId="t1", givenName="Ada", familyName="Teach", role="teacher", orgs=["sch-1"])]
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
        for c, u in (("c1", "t1"), ("c1", "s1"), ("c1", "s2"), ("c2", "t1"), ("c2", "s3"))
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
        clients=[SisClient(client_id=f"otus-{tenant}", client_secret=SECRETS[tenant])],
    )


def scenario() -> Scenario:
    return Scenario(districts=[district("d1"), district("d2")])


def line_item(sid: str = "li-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sourcedId": sid,
        "status": "active",
        "title": "Fractions quiz",
        "description": "",
        "assignDate": "2026-11-02T00:00:00Z",
        "dueDate": "2026-11-09T00:00:00Z",
        "class": {"href": "/classes/c1", "sourcedId": "c1", "type": "class"},
        "category": {"href": "/categories/cat-quiz", "sourcedId": "cat-quiz", "type": "category"},
        "gradingPeriod": {"href": "/academicSessions/gp-q2", "sourcedId": "gp-q2", "type": "academicSession"},
        "resultValueMin": 0.0,
        "resultValueMax": 10.0,
    }
    body.update(overrides)
    return {"lineItem": {k: v for k, v in body.items() if v is not ...}}


def result(sid: str = "r-1", line_item_id: str = "li-1", student: str = "s1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sourcedId": sid,
        "status": "active",
        "lineItem": {"href": f"/lineItems/{line_item_id}", "sourcedId": line_item_id, "type": "lineItem"},
        "student": {"href": f"/users/{student}", "sourcedId": student, "type": "user"},
        "scoreStatus": "fully graded",
        "score": 8.5,
        "scoreDate": "2026-11-10",
        "comment": "",
    }
    body.update(overrides)
    return {"result": body}
