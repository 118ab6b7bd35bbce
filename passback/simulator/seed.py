"""Scenario -> the simulator's SQLite rows, in OneRoster 1.1 JSON shape (executemany, one
transaction per tenant: 60,000 users / 9,600 classes / 240,000 enrollments in a few seconds)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from passback.scenario import Scenario, SisDistrict
from passback.simulator.schema import ref
from passback.simulator.store import CLOSED_KEY, DISTRICT_LEVEL_KEY, Store, dumps, now_iso

RosterRow = tuple[str, str, str | None, str | None, str]
EnrollmentRow = tuple[str, str, str, str, str]


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _roster_rows(d: SisDistrict, stamp: str) -> Iterator[RosterRow]:
    t = d.tenant
    base = {"status": "active", "dateLastModified": stamp}
    for org in [d.org, *d.schools]:
        obj = {
            "sourcedId": org.sourcedId,
            **base,
            "name": org.name,
            "type": org.type,
            "identifier": org.sourcedId,
            "parent": ref(t, "org", org.parent) if org.parent else None,
        }
        yield "org", org.sourcedId, org.type, org.parent, dumps(obj)
    for s in d.academicSessions:
        obj = {
            "sourcedId": s.sourcedId,
            **base,
            "title": s.title,
            "type": s.type,
            "startDate": s.startDate.isoformat(),
            "endDate": s.endDate.isoformat(),
            "parent": ref(t, "academicSession", s.parent) if s.parent else None,
            "schoolYear": s.schoolYear,
        }
        if s.type == "gradingPeriod":
            obj["metadata"] = {CLOSED_KEY: s.closed}  # type: ignore[dict-item]
        yield "academicSession", s.sourcedId, s.type, s.parent, dumps(obj)
    for c in d.classes:
        obj = {
            "sourcedId": c.sourcedId,
            **base,
            "title": c.title,
            "classCode": c.classCode or c.sourcedId,
            "classType": "scheduled",
            "school": ref(t, "org", c.school),
            "terms": [ref(t, "academicSession", term) for term in c.terms],  # type: ignore[dict-item]
        }
        yield "class", c.sourcedId, None, c.school, dumps(obj)
    for u in d.users:
        obj = {
            "sourcedId": u.sourcedId,
            **base,
            "username": u.sourcedId,
            "enabledUser": "true",
            "givenName": u.givenName,
            "familyName": u.familyName,
            "role": u.role,
            "identifier": u.sourcedId,
            "orgs": [ref(t, "org", o) for o in u.orgs],  # type: ignore[dict-item]
            "agents": [],  # type: ignore[dict-item]
        }
        yield "user", u.sourcedId, u.role, None, dumps(obj)
    for cat in d.categories:
        obj = {
            "sourcedId": cat.sourcedId,
            "status": cat.status,
            "dateLastModified": stamp,
            "title": cat.title,
            "metadata": {DISTRICT_LEVEL_KEY: cat.districtLevel},  # type: ignore[dict-item]
        }
        yield "category", cat.sourcedId, cat.status, None, dumps(obj)


def _enrollment_rows(d: SisDistrict, stamp: str) -> Iterator[EnrollmentRow]:
    t = d.tenant
    school_of = {c.sourcedId: c.school for c in d.classes}
    for e in d.enrollments:
        obj = {
            "sourcedId": e.sourcedId,
            "status": "active",
            "dateLastModified": stamp,
            "role": e.role,
            "primary": e.primary,
            "user": ref(t, "user", e.userSourcedId),
            "class": ref(t, "class", e.classSourcedId),
        }
        school = school_of.get(e.classSourcedId)
        if school:
            obj["school"] = ref(t, "org", school)
        yield e.sourcedId, e.classSourcedId, e.userSourcedId, e.role, dumps(obj)


def seed_district(store: Store, d: SisDistrict, *, reset_gradebook: bool = False) -> None:
    """Replace the district's rostering side, settings and clients; keep its gradebook unless asked."""
    stamp = now_iso()
    store.replace_roster(d.tenant, _roster_rows(d, stamp), _enrollment_rows(d, stamp))
    store.set_settings(d.tenant, d.settings.model_dump())
    for c in d.clients:
        store.put_client(d.tenant, c.client_id, secret_hash(c.client_secret), c.scopes)
    if reset_gradebook:
        store.clear_gradebook(d.tenant)


def seed_scenario(store: Store, scenario: Scenario, *, reset_gradebook: bool = False) -> list[str]:
    for d in scenario.districts:
        seed_district(store, d, reset_gradebook=reset_gradebook)
    return [d.tenant for d in scenario.districts]
