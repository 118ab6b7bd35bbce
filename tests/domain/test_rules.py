"""Every rule and reason code of PRODUCT.md, from source rows through derive + the GX suites.

Each case bends one thing of a valid world: the row must get exactly that reason, and the
unbent row must pass."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from passback.domain.context import local_now
from passback.sync.evaluate import classify
from tests.factory import assessment, context, score, world


def reasons(w, ctx=None) -> tuple[list, list]:
    a, s, _ = classify(w, ctx or context())
    return a["reason"].tolist(), s["reason"].tolist()


def assessment_reason(ctx=None, **overrides) -> object:
    return reasons(world([assessment(**overrides)]), ctx)[0][0]


def test_the_valid_world_passes_back() -> None:
    a, s = reasons(world())
    assert pd.isna(a[0]) and pd.isna(s[0])


ASSESSMENT_CASES = [
    ({"status": "deleted"}, "assessment_deleted"),
    ({"scoring": "standards"}, "not_points_based"),
    ({"scoring": "rubric"}, "not_points_based"),
    ({"points_possible": 10.5}, "points_not_whole"),
    ({"points_possible": None}, "points_not_whole"),
    ({"points_possible": 0.0}, "points_not_whole"),
    ({"points_possible": -5.0}, "points_not_whole"),
    ({"points_possible": float("inf")}, "points_not_whole"),
    ({"title": "   "}, "title_missing"),
    ({"title": None}, "title_missing"),
    ({"title": "x" * 50}, "title_too_long"),
    ({"title": "é" * 50}, "title_too_long"),
    ({"include_in_final_grade": False}, "not_in_final_grade"),
    ({"class_id": "c-2"}, "class_not_in_sis"),
    ({"assigned_by": "u-adm"}, "assigner_not_in_sis"),
    ({"assigned_by": "u-t2"}, "assigner_not_in_group"),
    ({"assign_date": None}, "missing_dates"),
    ({"due_date": None}, "missing_dates"),
    ({"due_date": pd.Timestamp("2026-11-01")}, "due_before_assign"),
    (
        {"assign_date": pd.Timestamp("2027-06-01"), "due_date": pd.Timestamp("2027-06-05")},
        "outside_grading_periods",
    ),
    (
        {"assign_date": pd.Timestamp("2026-12-15"), "due_date": pd.Timestamp("2027-01-06")},
        "straddles_grading_periods",
    ),
    ({"assessment_type": "Poster"}, "category_unmapped"),
]


@pytest.fixture(scope="module")
def assessment_case_reasons() -> dict[str, object]:
    """Every case of ASSESSMENT_CASES as its own assessment (``a-case-N``, with its own score) in one
    world, classified once (~0.5 s of GX for all instead of each), and an unbent control: a row's
    reason depends on its own values only (distinct ids: ``duplicate_row`` joins no two cases)."""
    rows = [assessment(id=f"a-case-{i}", **overrides) for i, (overrides, _) in enumerate(ASSESSMENT_CASES)]
    rows.append(assessment(id="a-control"))
    a, _, _ = classify(world(rows, [score(assessment_id=row["id"]) for row in rows]), context())
    return dict(zip(a["id"], a["reason"], strict=True))


@pytest.mark.parametrize(("case", "code"), [(i, code) for i, (_, code) in enumerate(ASSESSMENT_CASES)])
def test_each_assessment_rule_blocks_its_row(assessment_case_reasons: dict[str, object], case: int, code: str) -> None:
    assert assessment_case_reasons[f"a-case-{case}"] == code
    assert pd.isna(assessment_case_reasons["a-control"])


def test_before_effective_date_and_the_boundary_day() -> None:
    ctx = context(effective_date=dt.date(2026, 11, 2))
    assert pd.isna(assessment_reason(ctx))  # assign date == effective date passes
    assert assessment_reason(ctx, assign_date=pd.Timestamp("2026-11-01")) == "before_effective_date"


def test_closed_grading_period_blocks() -> None:
    closed = {"assign_date": pd.Timestamp("2026-09-01"), "due_date": pd.Timestamp("2026-09-08")}
    assert assessment_reason(**closed) == "grading_period_closed"
    assert pd.isna(assessment_reason(context(closed_periods=frozenset()), **closed))


def test_category_not_active_in_sis() -> None:
    ctx = context(active_categories=frozenset({"cat-test"}))
    assert assessment_reason(ctx) == "category_not_in_sis"


def test_title_boundary_is_characters_not_bytes() -> None:
    assert pd.isna(assessment_reason(title="x" * 49))
    assert pd.isna(assessment_reason(title="😀" * 49))  # 49 characters, 196 bytes
    assert assessment_reason(title="😀" * 50) == "title_too_long"


def test_points_whole_boundary() -> None:
    assert pd.isna(assessment_reason(points_possible=10.0))
    assert assessment_reason(points_possible=10.5) == "points_not_whole"


def test_grading_period_first_and_last_day_are_inside() -> None:
    assert pd.isna(assessment_reason(assign_date=pd.Timestamp("2026-10-19"), due_date=pd.Timestamp("2026-12-18")))
    assert (
        assessment_reason(assign_date=pd.Timestamp("2026-10-18"), due_date=pd.Timestamp("2026-10-20"))
        == "outside_grading_periods"
    )


def test_first_failing_reason_wins() -> None:
    assert assessment_reason(scoring="standards", title="x" * 60, assigned_by="u-adm") == "not_points_based"


def test_nothing_to_send_when_no_score_passes_yet() -> None:
    a, s = reasons(world(scores=[score(state="turned_in", points_earned=None)]))
    assert a == ["nothing_to_send"]
    assert s == ["not_yet_graded"]


SCORE_CASES = [
    ({"excluded": True}, "score_excluded"),
    ({"student_id": "u-s3"}, "student_not_in_sis"),
    ({"state": "turned_in", "points_earned": None}, "not_yet_graded"),
    ({"points_earned": None}, "score_invalid"),
    ({"points_earned": -1.0}, "score_invalid"),
    ({"points_earned": float("nan")}, "score_invalid"),
    ({"points_earned": float("inf")}, "score_invalid"),
    ({"state": "lost"}, "score_invalid"),
]


@pytest.fixture(scope="module")
def score_case_reasons() -> list[tuple[object, object]]:
    """Every case of SCORE_CASES on its own assessment (``a-case-N``): a valid score of u-s1 and the
    bent score (of u-s2 unless the case says), in one world classified once; per case (the valid
    score's reason, the bent one's)."""
    rows = [assessment(id=f"a-case-{i}") for i in range(len(SCORE_CASES))]
    scores = [
        row
        for i, (overrides, _) in enumerate(SCORE_CASES)
        for row in (
            score(assessment_id=f"a-case-{i}"),
            score(**({"student_id": "u-s2"} | overrides), assessment_id=f"a-case-{i}"),
        )
    ]
    _, s, _ = classify(world(rows, scores), context())
    assert s["assessment_id"].tolist() == [row["assessment_id"] for row in scores]  # the rows as given
    reason = s["reason"].tolist()
    return [(reason[2 * i], reason[2 * i + 1]) for i in range(len(SCORE_CASES))]


@pytest.mark.parametrize(("case", "code"), [(i, code) for i, (_, code) in enumerate(SCORE_CASES)])
def test_each_score_rule_blocks_its_row(score_case_reasons: list[tuple[object, object]], case: int, code: str) -> None:
    valid, bent = score_case_reasons[case]
    assert pd.isna(valid) and bent == code


def test_fractions_and_extra_credit_pass_unchanged() -> None:
    a, s, _ = classify(
        world(scores=[score(points_earned=8.5), score(student_id="u-s2", points_earned=13.0)]), context()
    )
    assert s["reason"].isna().all()


def test_not_submitted_is_zero_after_the_due_date_only() -> None:
    due_today = {"due_date": pd.Timestamp(context().today)}
    missing = [score(), score(student_id="u-s2", state="not_submitted", points_earned=None)]
    _, s = reasons(world([assessment(**due_today)], missing))
    assert s[1] == "not_yet_due"
    _, s = reasons(world([assessment(due_date=pd.Timestamp(context().today - dt.timedelta(days=1)))], missing))
    assert pd.isna(s[1])


def test_grace_hours_delay_the_zero() -> None:
    yesterday = {"due_date": pd.Timestamp(context().today - dt.timedelta(days=1))}
    missing = [score(), score(student_id="u-s2", state="not_submitted", points_earned=None)]
    _, s = reasons(world([assessment(**yesterday)], missing), context(grace_hours=12))  # 10:00 < midnight + 12 h
    assert s[1] == "not_yet_due"


def test_due_date_uses_the_district_time_zone_across_dst() -> None:
    # 2026-11-01 is the DST change in America/Chicago.  At 04:30 UTC on Nov 2 it is still Nov 1 in Chicago.
    utc = dt.datetime(2026, 11, 2, 4, 30, tzinfo=dt.UTC)
    now = local_now("America/Chicago", utc)
    assert now.date() == dt.date(2026, 11, 1)
    missing = [score(), score(student_id="u-s2", state="not_submitted", points_earned=None)]
    due_today = world(
        [assessment(assign_date=pd.Timestamp("2026-10-26"), due_date=pd.Timestamp("2026-11-01"))], missing
    )
    due_yesterday = world(
        [assessment(assign_date=pd.Timestamp("2026-10-26"), due_date=pd.Timestamp("2026-10-31"))], missing
    )
    assert reasons(due_today, context(now_local=now))[1][1] == "not_yet_due"
    assert pd.isna(reasons(due_yesterday, context(now_local=now))[1][1])
    # In UTC it is already Nov 2: only the district's time zone gives the right answer.
    assert local_now("UTC", utc).date() == dt.date(2026, 11, 2)


def test_scores_of_an_ineligible_assessment_are_blocked_by_it() -> None:
    _, s = reasons(world([assessment(scoring="standards")]))
    assert s == ["assessment_ineligible"]


def test_orphan_and_duplicate_scores() -> None:
    _, s = reasons(world(scores=[score(), score(), score(assessment_id="a-404")]))
    assert pd.isna(s[0]) and s[1] == "duplicate_row" and s[2] == "unknown_assessment"


def test_duplicate_assessment_rows() -> None:
    a, _ = reasons(world([assessment(), assessment(title="Other")]))
    assert pd.isna(a[0]) and a[1] == "duplicate_row"
