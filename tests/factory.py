"""A tiny, valid Otus world as frames (plus the district context) that tests bend one rule at a time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from passback.domain.codes import OTUS_TYPES
from passback.domain.context import DistrictContext, grading_period_frame

TODAY = dt.date(2026, 11, 18)
PERIODS = [
    {"sourced_id": "gp-q1", "title": "Q1", "start_date": "2026-08-17", "end_date": "2026-10-16"},
    {"sourced_id": "gp-q2", "title": "Q2", "start_date": "2026-10-19", "end_date": "2026-12-18"},
    {"sourced_id": "gp-q3", "title": "Q3", "start_date": "2027-01-04", "end_date": "2027-03-12"},
]
MAPPING = {t: f"cat-{t.lower()}" for t in OTUS_TYPES}


@dataclass
class World:
    users: pd.DataFrame
    classes: pd.DataFrame
    enrollments: pd.DataFrame
    assessments: pd.DataFrame
    scores: pd.DataFrame
    group_members: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)


def assessment(**overrides: Any) -> dict[str, Any]:
    row = {
        "id": "a-1",
        "district_id": "d1",
        "class_id": "c-1",
        "assigned_by": "u-t1",
        "title": "Fractions quiz",
        "assessment_type": "Quiz",
        "scoring": "points",
        "points_possible": 10.0,
        "include_in_final_grade": True,
        "assign_date": pd.Timestamp("2026-11-02"),
        "due_date": pd.Timestamp("2026-11-09"),
        "status": "active",
        "updated_at": pd.Timestamp("2026-11-10 12:00"),
    }
    row.update(overrides)
    return row


def score(**overrides: Any) -> dict[str, Any]:
    row = {
        "assessment_id": "a-1",
        "student_id": "u-s1",
        "points_earned": 8.5,
        "state": "graded",
        "excluded": False,
        "updated_at": pd.Timestamp("2026-11-10 12:00"),
    }
    row.update(overrides)
    return row


def world(
    assessments: list[dict[str, Any]] | None = None,
    scores: list[dict[str, Any]] | None = None,
    group: list[str] | None = None,
) -> World:
    users = pd.DataFrame(
        [
            {
                "id": "u-t1",
                "district_id": "d1",
                "sis_id": "sky-t1",
                "role": "teacher",
                "given_name": "Ada",
                "family_name": "Teach",
            },
            {
                "id": "u-t2",
                "district_id": "d1",
                "sis_id": "sky-t2",
                "role": "teacher",
                "given_name": "Bo",
                "family_name": "Out",
            },
            {
                "id": "u-adm",
                "district_id": "d1",
                "sis_id": None,
                "role": "administrator",
                "given_name": "Al",
                "family_name": "Admin",
            },
            {
                "id": "u-s1",
                "district_id": "d1",
                "sis_id": "sky-s1",
                "role": "student",
                "given_name": "Sam",
                "family_name": "One",
            },
            {
                "id": "u-s2",
                "district_id": "d1",
                "sis_id": "sky-s2",
                "role": "student",
                "given_name": "Sue",
                "family_name": "Two",
            },
            {
                "id": "u-s3",
                "district_id": "d1",
                "sis_id": None,
                "role": "student",
                "given_name": "Otto",
                "family_name": "Only",
            },
        ]
    )
    classes = pd.DataFrame(
        [
            {"id": "c-1", "district_id": "d1", "sis_id": "sky-c1", "title": "Math 6"},
            {"id": "c-2", "district_id": "d1", "sis_id": None, "title": "Otus-only club"},
        ]
    )
    enrollments = pd.DataFrame(
        [
            {"class_id": "c-1", "user_id": u, "role": r}
            for u, r in (
                ("u-t1", "teacher"),
                ("u-t2", "co_teacher"),
                ("u-s1", "student"),
                ("u-s2", "student"),
                ("u-s3", "student"),
            )
        ]
    )
    return World(
        users=users,
        classes=classes,
        enrollments=enrollments,
        assessments=pd.DataFrame(
            assessments if assessments is not None else [assessment()], columns=list(assessment())
        ),
        scores=pd.DataFrame(scores if scores is not None else [score()], columns=list(score())),
        group_members=pd.DataFrame({"district_id": "d1", "user_id": group if group is not None else ["u-t1"]}),
    )


def context(**overrides: Any) -> DistrictContext:
    base = DistrictContext(
        district_id="d1",
        timezone="America/Chicago",
        effective_date=dt.date(2026, 8, 17),
        now_local=dt.datetime.combine(TODAY, dt.time(10, 0)),
        mapping=dict(MAPPING),
        grading_periods=grading_period_frame(PERIODS),
        active_categories=frozenset(MAPPING.values()),
        closed_periods=frozenset({"gp-q1"}),
    )
    return replace(base, **overrides)


CLIENT_ID = "otus-d1"
CLIENT_SECRET = "factory-secret-0123456789"


def scenario_for(
    w: World,
    *,
    tenant: str = "d1",
    closed: frozenset[str] = frozenset({"gp-q1"}),
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
) -> Any:
    """The SIS side matching a factory world (classes, users and enrollments that have SIS ids)."""
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

    sis_of = {r.id: r.sis_id for r in w.users.itertuples() if isinstance(r.sis_id, str)}
    role_of = {r.id: r.role for r in w.users.itertuples()}
    classes = {r.id: r.sis_id for r in w.classes.itertuples() if isinstance(r.sis_id, str)}
    sessions = [
        SisAcademicSession(
            sourcedId="sy-2027",
            title="2026-2027",
            type="schoolYear",
            startDate="2026-08-17",
            endDate="2027-06-04",
            schoolYear="2027",
        ),
        SisAcademicSession(
            sourcedId="term-1",
            title="Year",
            type="term",
            startDate="2026-08-17",
            endDate="2027-06-04",
            parent="sy-2027",
            schoolYear="2027",
        ),
    ]
    sessions += [
        SisAcademicSession(
            sourcedId=p["sourced_id"],
            title=p["title"],
            type="gradingPeriod",
            startDate=p["start_date"],
            endDate=p["end_date"],
            parent="term-1",
            schoolYear="2027",
            closed=p["sourced_id"] in closed,
        )
        for p in PERIODS
    ]
    categories = [SisCategory(sourcedId=c, title=c.removeprefix("cat-").title()) for c in sorted(set(MAPPING.values()))]
    categories.append(SisCategory(sourcedId="cat-inactive", title="Inactive", status="tobedeleted"))
    enrollments = [
        SisEnrollment(
            sourcedId=f"e-{i}",
            classSourcedId=classes[r.class_id],
            userSourcedId=sis_of[r.user_id],
            role="student" if r.role == "student" else "teacher",
        )
        for i, r in enumerate(w.enrollments.itertuples())
        if r.class_id in classes and r.user_id in sis_of
    ]
    district = SisDistrict(
        tenant=tenant,
        org=SisOrg(sourcedId=f"org-{tenant}", name=f"District {tenant}"),
        schools=[SisOrg(sourcedId=f"sch-{tenant}", name="School", type="school", parent=f"org-{tenant}")],
        academicSessions=sessions,
        classes=[
            SisClass(sourcedId=sid, title=cid, school=f"sch-{tenant}", terms=["term-1"]) for cid, sid in classes.items()
        ],
        users=[
            SisUser(
                sourcedId=sid, givenName="G", familyName="F", role="student" if role_of[uid] == "student" else "teacher"
            )
            for uid, sid in sis_of.items()
        ],
        enrollments=enrollments,
        categories=categories,
        clients=[SisClient(client_id=client_id, client_secret=client_secret)],
    )
    return district


def as_district(w: World, district_id: str) -> World:
    """The same world for another district: every id and SIS id prefixed, so several fit one source DB."""

    def pre(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
        out = frame.copy()
        for col in cols:
            out[col] = out[col].map(lambda v: f"{district_id}:{v}" if isinstance(v, str) else v)
        if "district_id" in out:
            out["district_id"] = district_id
        return out

    return World(
        users=pre(w.users, "id", "sis_id"),
        classes=pre(w.classes, "id", "sis_id"),
        enrollments=pre(w.enrollments, "class_id", "user_id"),
        assessments=pre(w.assessments, "id", "class_id", "assigned_by"),
        scores=pre(w.scores, "assessment_id", "student_id"),
        group_members=pre(w.group_members, "user_id"),
    )


def merge(*worlds: World) -> World:
    """Several districts' worlds as one source DB's content."""
    return World(
        *(
            pd.concat([getattr(w, f) for w in worlds], ignore_index=True)
            for f in ("users", "classes", "enrollments", "assessments", "scores", "group_members")
        )
    )


def write_source(w: World, url: str) -> None:
    """Write a factory world into an Otus source database."""
    from sqlalchemy import create_engine

    from passback.source.models import create_source_schema

    engine = create_engine(url)
    create_source_schema(engine)
    tables = {
        "otus_users": w.users,
        "otus_classes": w.classes,
        "otus_enrollments": w.enrollments,
        "otus_assessments": w.assessments,
        "otus_scores": w.scores,
        "otus_group_members": w.group_members,
    }
    with engine.begin() as conn:
        for name in tables:
            conn.exec_driver_sql(f"DELETE FROM {name}")
    for name, frame in tables.items():
        frame.to_sql(name, engine, if_exists="append", index=False)
    engine.dispose()


def with_students(w: World, n: int, class_id: str = "c-1") -> World:
    """Add n SIS students enrolled in the class, each with a graded score on every assessment."""
    ids = [f"u-x{i:03d}" for i in range(n)]
    users = pd.DataFrame(
        [
            {"id": u, "district_id": "d1", "sis_id": f"sky-{u}", "role": "student", "given_name": "X", "family_name": u}
            for u in ids
        ]
    )
    enroll = pd.DataFrame([{"class_id": class_id, "user_id": u, "role": "student"} for u in ids])
    scores = pd.DataFrame(
        [
            score(assessment_id=a, student_id=u, points_earned=float(i % 10))
            for a in w.assessments["id"]
            for i, u in enumerate(ids)
        ]
    )
    return replace(
        w,
        users=pd.concat([w.users, users], ignore_index=True),
        enrollments=pd.concat([w.enrollments, enroll], ignore_index=True),
        scores=pd.concat([w.scores, scores], ignore_index=True),
    )
