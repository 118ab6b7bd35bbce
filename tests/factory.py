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
        "id": "a-1", "district_id": "d1", "class_id": "c-1", "assigned_by": "u-t1", "title": "Fractions quiz",
        "assessment_type": "Quiz", "scoring": "points", "points_possible": 10.0, "include_in_final_grade": True,
        "assign_date": pd.Timestamp("2026-11-02"), "due_date": pd.Timestamp("2026-11-09"), "status": "active",
        "updated_at": pd.Timestamp("2026-11-10 12:00"),
    }
    row.update(overrides)
    return row


def score(**overrides: Any) -> dict[str, Any]:
    row = {"assessment_id": "a-1", "student_id": "u-s1", "points_earned": 8.5, "state": "graded",
           "excluded": False, "updated_at": pd.Timestamp("2026-11-10 12:00")}
    row.update(overrides)
    return row


def world(assessments: list[dict[str, Any]] | None = None, scores: list[dict[str, Any]] | None = None,
          group: list[str] | None = None) -> World:
    users = pd.DataFrame([
        {"id": "u-t1", "district_id": "d1", "sis_id": "sky-t1", "role": "teacher", "given_name": "Ada", "family_name": "Teach"},
        {"id": "u-t2", "district_id": "d1", "sis_id": "sky-t2", "role": "teacher", "given_name": "Bo", "family_name": "Out"},
        {"id": "u-adm", "district_id": "d1", "sis_id": None, "role": "administrator", "given_name": "Al", "family_name": "Admin"},
        {"id": "u-s1", "district_id": "d1", "sis_id": "sky-s1", "role": "student", "given_name": "Sam", "family_name": "One"},
        {"id": "u-s2", "district_id": "d1", "sis_id": "sky-s2", "role": "student", "given_name": "Sue", "family_name": "Two"},
        {"id": "u-s3", "district_id": "d1", "sis_id": None, "role": "student", "given_name": "Otto", "family_name": "Only"},
    ])
    classes = pd.DataFrame([
        {"id": "c-1", "district_id": "d1", "sis_id": "sky-c1", "title": "Math 6"},
        {"id": "c-2", "district_id": "d1", "sis_id": None, "title": "Otus-only club"},
    ])
    enrollments = pd.DataFrame([
        {"class_id": "c-1", "user_id": u, "role": r}
        for u, r in (("u-t1", "teacher"), ("u-t2", "co_teacher"), ("u-s1", "student"), ("u-s2", "student"), ("u-s3", "student"))
    ])
    return World(
        users=users, classes=classes, enrollments=enrollments,
        assessments=pd.DataFrame(assessments if assessments is not None else [assessment()]),
        scores=pd.DataFrame(scores if scores is not None else [score()]),
        group_members=pd.DataFrame({"district_id": "d1", "user_id": group if group is not None else ["u-t1"]}),
    )


def context(**overrides: Any) -> DistrictContext:
    base = DistrictContext(
        district_id="d1", timezone="America/Chicago", effective_date=dt.date(2026, 8, 17),
        now_local=dt.datetime.combine(TODAY, dt.time(10, 0)), mapping=dict(MAPPING),
        grading_periods=grading_period_frame(PERIODS),
        active_categories=frozenset(MAPPING.values()), closed_periods=frozenset({"gp-q1"}),
    )
    return replace(base, **overrides)
