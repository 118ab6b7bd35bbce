"""The contract tests' scenario and bodies (the fixtures are in conftest.py).

A small hand-built scenario: district d1 (and d2, for isolation) with Q1 closed, Q2 and Q3 open;
classes c1 (s1, s2) and c2 (s3); s4 in no class; categories quiz/test (active, district level),
old (inactive) and school (school level).
"""

from __future__ import annotations

from typing import Any

from passback.scenario import Scenario, SisClient, SisDistrict
from passback.simulator.server import tenant_urls
from tests.sis_district import sis_district

__all__ = ["SECRETS", "district", "line_item", "result", "scenario", "tenant_urls"]

SECRETS = {"d1": "d1-contract-secret-42", "d2": "d2-contract-secret-43"}


def district(tenant: str) -> SisDistrict:
    return sis_district(tenant, [SisClient(client_id=f"otus-{tenant}", client_secret=SECRETS[tenant])])


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
