"""The hand-built SIS district of the contract and simulator tests (one copy; each helpers module
names its secrets and clients).

Term 2026-27 with Q1 (closed), Q2, Q3; classes c1 (s1, s2) and c2 (s3); s4 in no class; categories:
quiz and test (active, district level), old (inactive), school (school level).  Teacher t1 teaches
both classes; with ``co_teacher`` t2 co-teaches c1 and teaches c2 in t1's place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from passback.scenario import (
    SisAcademicSession,
    SisCategory,
    SisClass,
    SisClient,
    SisDistrict,
    SisEnrollment,
    SisOrg,
    SisUser,
)


def sis_district(tenant: str, clients: Sequence[SisClient], *, co_teacher: bool = False) -> SisDistrict:
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
    if co_teacher:
        users.append(SisUser(sourcedId="t2", givenName="Bo", familyName="Coteach", role="teacher", orgs=["sch-1"]))
    users += [
        SisUser(sourcedId=f"s{i}", givenName=f"Student{i}", familyName="Pupil", role="student", orgs=["sch-1"])
        for i in range(1, 5)
    ]
    pairs = (
        (("c1", "t1"), ("c1", "t2"), ("c1", "s1"), ("c1", "s2"), ("c2", "t2"), ("c2", "s3"))
        if co_teacher
        else (("c1", "t1"), ("c1", "s1"), ("c1", "s2"), ("c2", "t1"), ("c2", "s3"))
    )
    enrollments = [
        SisEnrollment(
            sourcedId=f"e-{c}-{u}",
            classSourcedId=c,
            userSourcedId=u,
            role="teacher" if u.startswith("t") else "student",
            primary=u == "t1",
        )
        for c, u in pairs
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
        clients=list(clients),
    )
