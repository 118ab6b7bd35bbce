"""The guards' world and nights: a district of ordinary shape: one class of 40 SIS students, 30 graded assessments
by a teacher in the group (a tenth of the grades are zeros), a second teacher not in the group with
20 assessments of their own; the simulator on loopback; nights run with a fixed clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pandas as pd

from passback.settings import get_settings
from passback.store.db import get_engine
from tests.factory import World, assessment, score, world, write_source
from tests.toolkit import Sis, run_sync

STUDENTS = [f"u-x{i:03d}" for i in range(40)]
OWN = [f"a-{i:02d}" for i in range(30)]  # by u-t1 (in the group)
OTHER = [f"b-{i:02d}" for i in range(20)]  # by u-t2 (not in the group until a test adds them)
PAST_DUE = pd.Timestamp("2026-11-09")


def points(i: int, j: int) -> float:
    """Student i's grade on assessment j: a zero for a tenth of them."""
    return float((i + j) % 10)


def guard_world() -> World:
    rows = [assessment(id=a, title=f"Quiz {a}") for a in OWN]
    rows += [assessment(id=b, title=f"Lab {b}", assigned_by="u-t2", assessment_type="Lab") for b in OTHER]
    scores = [
        score(assessment_id=a, student_id=s, points_earned=points(i, j) if a in OWN else 1.0 + i % 9)
        for j, a in enumerate(OWN + OTHER)
        for i, s in enumerate(STUDENTS)
    ]
    w = world(rows, scores, group=["u-t1"])
    users = pd.DataFrame(
        [
            {"id": u, "district_id": "d1", "sis_id": f"sky-{u}", "role": "student", "given_name": "X", "family_name": u}
            for u in STUDENTS
        ]
    )
    enroll = pd.DataFrame([{"class_id": "c-1", "user_id": u, "role": "student"} for u in STUDENTS])
    return replace(
        w,
        users=pd.concat([w.users, users], ignore_index=True),
        enrollments=pd.concat([w.enrollments, enroll], ignore_index=True),
    )


def add_assessment(
    w: World,
    aid: str,
    *,
    state: str = "graded",
    due: pd.Timestamp = PAST_DUE,
    points_of: Any = None,
    students: list[str] | None = None,
) -> None:
    """A new assessment by u-t1 with a score row for each student (``state`` for all of them)."""
    w.assessments.loc[len(w.assessments)] = assessment(id=aid, title=f"New {aid}", due_date=due)
    new = pd.DataFrame(
        [
            score(
                assessment_id=aid,
                student_id=s,
                state=state,
                points_earned=(points_of(i) if points_of else 7.0) if state == "graded" else None,
            )
            for i, s in enumerate(students or STUDENTS)
        ]
    )
    w.scores = pd.concat([w.scores, new], ignore_index=True)


def set_scores(w: World, mask: pd.Series, value: Any) -> None:
    w.scores.loc[mask, "points_earned"] = value


def engine() -> Any:
    return get_engine(get_settings().state_db_url)


def night(w: World, **options: Any) -> Any:
    """The world as the Otus source, then one district run (library path, fixed clock)."""
    write_source(w, get_settings().source_db_url)
    return run_sync(**options)


def ordinary_history(w: World) -> None:
    """The first night and two ordinary ones (a few regrades, a new graded quiz each): history."""
    first = night(w)
    assert first.status == "completed", (first.error, first.guards)
    for n, aid in enumerate(("h-1", "h-2")):
        add_assessment(w, aid, points_of=lambda i: float(1 + i % 9))
        regrade = w.scores["assessment_id"].eq(OWN[n]) & w.scores["student_id"].isin(STUDENTS[:4])
        set_scores(w, regrade, 9.5)
        summary = night(w)
        assert summary.status == "completed" and summary.guards == [], summary.guards


def stored(sis: Sis) -> tuple[int, int]:
    """(lineItems, results) the simulator holds for d1."""
    state = sis.state()
    return len(state["lineItems"]), len(state["results"])


UTC_TODAY = dt.date(2026, 11, 18)
