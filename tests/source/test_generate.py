"""The synthetic generator: deterministic, sized as the presets say, consistent with its SIS side,
and (demo) covering every reason code it can produce — checked on the raw rows, not by the rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from passback.domain.codes import ASSESSMENT_REASONS, OTUS_TYPES, SCORE_REASONS
from passback.scenario import Scenario
from passback.source.generate import GeneratedWorld, generate
from passback.source.presets import Calendar
from passback.source.read import read_district
from passback.source.violations import ASSESSMENT_KINDS
from passback.source.write import write_world

TODAY = dt.date(2026, 11, 18)
NOT_GENERATED = {"duplicate_row", "unknown_assessment", "line_item_rejected", "assessment_ineligible"}


@pytest.fixture(scope="module")
def demo() -> GeneratedWorld:
    return generate("demo", seed=7, today=TODAY)


def assert_same_world(a: GeneratedWorld, b: GeneratedWorld) -> None:
    for name, frame in a.frames().items():
        pd.testing.assert_frame_equal(frame, b.frames()[name])
    assert a.scenario.model_dump_json() == b.scenario.model_dump_json()
    assert a.seeds == b.seeds and a.counts == b.counts


def test_same_arguments_give_the_same_world() -> None:
    assert_same_world(generate("demo", seed=11, today=TODAY), generate("demo", seed=11, today=TODAY))
    assert_same_world(
        generate("S", seed=11, today=TODAY, districts=2), generate("S", seed=11, today=TODAY, districts=2)
    )


def test_another_seed_gives_another_world(demo: GeneratedWorld) -> None:
    other = generate("demo", seed=8, today=TODAY)
    assert not demo.scores["points_earned"].equals(other.scores["points_earned"])
    assert demo.seeds[0].client_secret != other.seeds[0].client_secret
    assert not demo.assessments["title"].equals(other.assessments["title"])


def test_demo_shape(demo: GeneratedWorld) -> None:
    users = demo.users
    assert (users["role"] == "student").sum() == 60
    assert sorted(demo.classes["sis_id"].dropna()) == ["sky-demo-cls-00000", "sky-demo-cls-00001", "sky-demo-cls-00002"]
    assert demo.group_members["user_id"].isin(users.loc[users["role"] == "teacher", "id"]).sum() == 3
    per_class = demo.assessments.groupby("class_id").size()
    assert 10 <= per_class.median() <= 20
    passing = len(demo.assessments) - len(demo.planted)
    assert passing > len(demo.planted)  # most assessments pass back


def test_s_preset_is_sized_as_specified() -> None:
    world = generate("S", seed=7, today=TODAY)
    students = world.users["role"] == "student"
    assert students.sum() == 600
    sis_classes = world.classes["sis_id"].notna().sum()
    assert sis_classes == 96
    assert 0.9 * 96 * 20 <= len(world.assessments) <= 1.1 * 96 * 20
    assert 0.9 * 25 * len(world.assessments) <= len(world.scores) <= 1.1 * 25 * len(world.assessments)
    planted = len(world.planted) / len(world.assessments)
    assert 0.03 <= planted <= 0.07  # the default violation rate is 5 %
    assert set(world.planted["kind"]) <= set(ASSESSMENT_KINDS)


def test_without_violations_every_assessment_is_clean() -> None:
    world = generate("S", seed=7, today=TODAY, violation_rate=0.0)
    a = world.assessments
    cal = Calendar.around(TODAY)
    assert world.planted.empty
    assert (a["status"] == "active").all() and (a["scoring"] == "points").all() and a["include_in_final_grade"].all()
    assert a["assign_date"].ge(pd.Timestamp(cal.cur.start)).all() and a["due_date"].le(pd.Timestamp(cal.cur.end)).all()
    assert a["assessment_type"].isin(OTUS_TYPES).all() and a["title"].str.len().between(1, 49).all()
    assert world.classes["sis_id"].notna().all()
    assert a["assigned_by"].isin(world.group_members["user_id"]).all()
    assert (
        not world.scores["excluded"].any()
        and world.users["sis_id"].notna().sum() == (world.users["role"] != "administrator").sum()
    )
    assert set(world.seeds[0].mapping.values()) <= {
        c.sourcedId for c in world.scenario.districts[0].categories if c.status == "active" and c.districtLevel
    }


def raw_reasons(world: GeneratedWorld) -> set[str]:
    """Which reason codes the raw rows exhibit (a re-statement of the rules on the generator's columns)."""
    a, s, seed = world.assessments, world.scores, world.seeds[0]
    sis = world.scenario.districts[0]
    cal = Calendar.around(seed.today)
    periods = [(pd.Timestamp(q.start), pd.Timestamp(q.end), q.closed) for q in cal.quarters]
    users = world.users.set_index("id")
    class_sis = world.classes.set_index("id")["sis_id"]
    active = {c.sourcedId for c in sis.categories if c.status == "active" and c.districtLevel}

    def period(d: pd.Series) -> pd.Series:
        out = pd.Series(-1, index=d.index)
        for i, (start, end, _) in enumerate(periods):
            out[(d >= start) & (d <= end)] = i
        return out

    ap, dp = period(a["assign_date"]), period(a["due_date"])
    closed = ap.map(lambda i: i >= 0 and periods[i][2])
    category = a["assessment_type"].map(seed.mapping)
    found = {
        "assessment_deleted": (a["status"] == "deleted").any(),
        "not_points_based": (a["scoring"] != "points").any(),
        "points_not_whole": (
            ~(np.isfinite(a["points_possible"]) & (a["points_possible"] > 0) & (a["points_possible"] % 1 == 0))
        ).any(),
        "title_missing": (a["title"].fillna("").str.strip() == "").any(),
        "title_too_long": (a["title"].str.strip().str.len() >= 50).any(),
        "not_in_final_grade": (a["include_in_final_grade"] != True).any(),  # noqa: E712 - NA counts
        "class_not_in_sis": a["class_id"].map(class_sis).isna().any(),
        "assigner_not_in_sis": a["assigned_by"].map(users["sis_id"]).isna().any(),
        "assigner_not_in_group": (~a["assigned_by"].isin(world.group_members["user_id"])).any(),
        "missing_dates": (a["assign_date"].isna() | a["due_date"].isna()).any(),
        "due_before_assign": (a["due_date"] < a["assign_date"]).any(),
        "before_effective_date": (a["assign_date"] < pd.Timestamp(seed.effective_date)).any(),
        "outside_grading_periods": (
            a["assign_date"].notna() & (ap < 0) & (a["assign_date"] >= pd.Timestamp(seed.effective_date))
        ).any(),
        "straddles_grading_periods": ((ap >= 0) & (dp >= 0) & (ap != dp)).any(),
        "grading_period_closed": (closed & (ap == dp)).any(),
        "category_unmapped": category.isna().any(),
        "category_not_in_sis": (category.notna() & ~category.isin(active)).any(),
    }
    clean_ids = a.loc[~a["id"].isin(world.planted["assessment_id"]), ["id", "due_date"]]
    cs = s.merge(clean_ids, left_on="assessment_id", right_on="id")
    today = pd.Timestamp(seed.today)
    sendable = (cs["state"] == "graded") | ((cs["state"] == "not_submitted") & (cs["due_date"] < today))
    found |= {
        "nothing_to_send": (~sendable).groupby(cs["assessment_id"]).all().any(),
        "score_excluded": cs["excluded"].any(),
        "student_not_in_sis": cs["student_id"].map(users["sis_id"]).isna().any(),
        "not_yet_graded": (cs["state"] == "turned_in").any(),
        "not_yet_due": ((cs["state"] == "not_submitted") & (cs["due_date"] >= today)).any(),
        "score_invalid": (
            (cs["state"] == "graded") & ~(np.isfinite(cs["points_earned"]) & (cs["points_earned"] >= 0))
        ).any(),
    }
    return {code for code, present in found.items() if present}


def test_demo_has_a_row_for_every_reason_it_can_produce(demo: GeneratedWorld) -> None:
    wanted = (set(ASSESSMENT_REASONS) | set(SCORE_REASONS)) - NOT_GENERATED
    assert raw_reasons(demo) == wanted
    assert set(demo.planted["kind"]) == set(ASSESSMENT_KINDS)


def test_demo_shows_edge_cases_that_pass(demo: GeneratedWorld) -> None:
    a, s = demo.assessments, demo.scores
    assert (a["title"].str.len() == 49).any() and (a["title"].str.encode("utf-8").str.len() > 49).any()
    graded = s[s["state"] == "graded"]
    assert (graded["points_earned"] % 1 == 0.5).any()  # 8.5/10
    pp = graded["assessment_id"].map(a.set_index("id")["points_possible"])
    assert (graded["points_earned"] > pp).any()  # extra credit
    teachers = demo.enrollments[demo.enrollments["role"] == "co_teacher"]
    assert a.merge(teachers, left_on=["class_id", "assigned_by"], right_on=["class_id", "user_id"]).shape[0] > 0


def test_the_sis_side_matches_the_otus_side(demo: GeneratedWorld) -> None:
    for world in (demo, generate("S", seed=2, today=TODAY, districts=2)):
        for seed, sis in zip(world.seeds, world.scenario.districts, strict=True):
            d = seed.district_id
            classes = world.classes[world.classes["district_id"] == d]
            users = world.users[world.users["district_id"] == d]
            assert {c.sourcedId for c in sis.classes} == set(classes["sis_id"].dropna())
            assert {u.sourcedId for u in sis.users} == set(users["sis_id"].dropna())
            e = world.enrollments.merge(classes[["id", "sis_id"]], left_on="class_id", right_on="id").merge(
                users[["id", "sis_id"]], left_on="user_id", right_on="id", suffixes=("_c", "_u")
            )
            e = e.dropna(subset=["sis_id_c", "sis_id_u"])
            assert {(x.classSourcedId, x.userSourcedId) for x in sis.enrollments} == set(
                zip(e["sis_id_c"], e["sis_id_u"])
            )
            categories = {c.sourcedId for c in sis.categories}
            assert set(seed.mapping) == set(OTUS_TYPES) and set(seed.mapping.values()) <= categories
            periods = {s.sourcedId: s for s in sis.academicSessions if s.type == "gradingPeriod"}
            assert len(periods) == 4 and {p for p, s in periods.items() if s.closed} == set(
                seed.closed_grading_period_ids
            )
            assert seed.closed_grading_period_ids and any(
                s.startDate <= TODAY <= s.endDate and not s.closed for s in periods.values()
            )
            assert sis.clients[0].client_id == seed.client_id and sis.settings.licensed
            assert {s.sourcedId for s in sis.schools} >= {c.school for c in sis.classes}


def test_districts_do_not_share_ids() -> None:
    world = generate("demo", seed=7, today=TODAY, districts=3, district_prefix="dist")
    assert [s.district_id for s in world.seeds] == ["dist", "dist-2", "dist-3"]
    for frame, key in ((world.users, "id"), (world.classes, "id"), (world.assessments, "id")):
        assert frame[key].is_unique
    assert not world.scores.duplicated(["assessment_id", "student_id"]).any()
    assert len({s.timezone for s in world.seeds}) == 3 and len({s.client_id for s in world.seeds}) == 3


@pytest.mark.parametrize("month", range(1, 13))
def test_every_month_has_an_open_current_and_a_closed_earlier_period(month: int) -> None:
    today = dt.date(2027, month, 15)
    cal = Calendar.around(today)
    assert cal.cur.start <= today <= cal.cur.end and not cal.cur.closed
    assert all(q.closed for q in cal.quarters[: cal.current]) and not any(q.closed for q in cal.quarters[cal.current :])
    assert cal.cur.start.weekday() == 0 and cal.cur.end.weekday() == 4


def test_write_world_round_trips_and_is_idempotent(tmp_path: Path, demo: GeneratedWorld) -> None:
    url = f"sqlite:///{tmp_path / 'otus.db'}"
    write_world(demo, url, tmp_path / "scenario.json")
    write_world(demo, url, tmp_path / "scenario.json")  # again: recreated, not appended
    frames = read_district(url, "demo")
    pd.testing.assert_frame_equal(frames.assessments, demo.assessments)
    pd.testing.assert_frame_equal(frames.scores, demo.scores)
    for name, columns in (
        ("users", ["id", "sis_id", "role", "given_name", "family_name"]),
        ("classes", ["id", "sis_id", "title"]),
        ("enrollments", ["class_id", "user_id", "role"]),
        ("group_members", ["user_id"]),
    ):
        pd.testing.assert_frame_equal(getattr(frames, name), getattr(demo, name)[columns])
    assert Scenario.load(tmp_path / "scenario.json").model_dump_json() == demo.scenario.model_dump_json()
    assert not list(tmp_path.glob("*.building"))


TABLE_COLUMNS = {
    "otus_users": ["id", "district_id", "sis_id", "role", "given_name", "family_name"],
    "otus_classes": ["id", "district_id", "sis_id", "title"],
    "otus_enrollments": ["class_id", "user_id", "role"],
    "otus_assessments": [
        "id",
        "district_id",
        "class_id",
        "assigned_by",
        "title",
        "assessment_type",
        "scoring",
        "points_possible",
        "include_in_final_grade",
        "assign_date",
        "due_date",
        "status",
        "updated_at",
    ],
    "otus_scores": ["assessment_id", "student_id", "points_earned", "state", "excluded", "updated_at"],
    "otus_group_members": ["district_id", "user_id"],
}


def test_tables_are_keyed_by_source_table_with_its_columns(demo: GeneratedWorld) -> None:
    assert {name: list(frame.columns) for name, frame in demo.tables.items()} == TABLE_COLUMNS
    assert demo.tables["otus_scores"] is demo.scores
    assert demo.counts["scores"] == len(demo.scores) and demo.counts["assessments"] == len(demo.assessments)


def test_district_ids_default_to_the_preset_name() -> None:
    world = generate("S", seed=7, today=TODAY, districts=2, violation_rate=0.0)
    assert [s.district_id for s in world.seeds] == ["s", "s-2"] == [d.tenant for d in world.scenario.districts]
    assert set(world.assessments["district_id"]) == {"s", "s-2"}
    assert world.seeds[0].timezone == "America/Chicago"


def test_most_assessments_are_in_the_open_period_after_the_effective_date() -> None:
    world = generate("S", seed=7, today=TODAY)
    a, seed = world.assessments, world.seeds[0]
    cal = Calendar.around(TODAY)
    start, end = pd.Timestamp(cal.cur.start), pd.Timestamp(cal.cur.end)
    current = (
        a["assign_date"].between(start, end) & a["due_date"].between(start, end) & (a["assign_date"] <= a["due_date"])
    )
    assert current.mean() >= 0.85
    assert (a.loc[current, "due_date"] < pd.Timestamp(TODAY)).any() and (
        a.loc[current, "due_date"] > pd.Timestamp(TODAY)
    ).any()
    assert (
        seed.effective_date <= cal.cur.start and (a["assign_date"] >= pd.Timestamp(seed.effective_date)).mean() >= 0.95
    )
    mapping_targets = {c.sourcedId: c for c in world.scenario.districts[0].categories}
    assert mapping_targets[seed.mapping["Journal"]].status == "tobedeleted"  # category_not_in_sis with violations
    assert (a["assessment_type"] == "Journal").mean() < 0.01


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        generate("XL")
    with pytest.raises(ValueError, match="violation_rate"):
        generate("demo", violation_rate=1.5)


def test_the_client_secret_is_not_in_the_seed_repr(demo: GeneratedWorld) -> None:
    assert demo.seeds[0].client_secret not in repr(demo.seeds[0])
