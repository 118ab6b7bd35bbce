"""Each guard holds a planted flood before the first write, and lets ordinary nights through.

Every test runs the district for real against the simulator (library path, fixed clock): a first
night and two ordinary nights make the district's history, then the planted night.  A held night
writes nothing: the simulator's gradebook and the ledger stay as they were.
"""

from __future__ import annotations

import pandas as pd

from passback.store import holds as store_holds
from passback.store import ledger
from tests.factory import World
from tests.guards.helpers import (
    OWN,
    STUDENTS,
    add_assessment,
    engine,
    night,
    ordinary_history,
    set_scores,
    stored,
)
from tests.toolkit import Sis


def held_by(w: World, sis: Sis) -> set[str]:
    """Run the planted night; assert it was held and wrote nothing; return the tripped guards."""
    before, acks = stored(sis), ledger.ledger_counts(engine(), "d1")
    summary = night(w)
    assert summary.status == "held", (summary.status, summary.guards, summary.error)
    assert summary.writes == 0 and stored(sis) == before and ledger.ledger_counts(engine(), "d1") == acks
    for g in summary.guards:
        assert set(g) == {"name", "value", "limit", "usual"} and g["value"] > g["limit"]
    hold = store_holds.latest_open(engine(), "d1")
    assert hold is not None and hold.status == "held" and summary.hold["id"] == hold.id
    assert hold.writes == summary.line_items["pending"] + summary.results["pending"] > 0
    return {g["name"] for g in summary.guards}


def test_ordinary_nights_pass_and_are_the_history(sis: Sis, gw: World) -> None:
    ordinary_history(gw)
    from passback.guards.check import usual_values

    usual = usual_values(engine(), "d1")  # the first night is not "usual"; the two ordinary ones are
    assert usual["writes"] == 41 + 4 and usual["changed_scores"] == 4 and usual["lowered_scores"] == 0


def test_new_zeros(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    for k in range(6):  # six new quizzes, each missing for 10 of 40 students: 60 auto-zeros, 25 % of each class
        add_assessment(gw, f"z-{k}", points_of=lambda i: 5.0)
        gw.scores.loc[
            gw.scores["assessment_id"].eq(f"z-{k}") & gw.scores["student_id"].isin(STUDENTS[:10]),
            ["state", "points_earned"],
        ] = ["not_submitted", None]
    assert held_by(gw, sis) == {"new_zeros"}


def test_any_new_zero_with_guard_new_zeros_0(after_history: tuple[Sis, World]) -> None:
    from tests.toolkit import cli

    sis, gw = after_history
    assert cli("district", "set", "d1", "--guard-new-zeros", "0").code == 0
    add_assessment(gw, "z-1", points_of=lambda i: 0.0 if i == 0 else 5.0)  # one graded zero
    assert held_by(gw, sis) == {"new_zeros"}
    assert cli("district", "set", "d1", "--guard-new-zeros", "default").code == 0
    assert night(gw).status == "completed"


def test_changed_scores(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    set_scores(gw, gw.scores["assessment_id"].isin(OWN[10:12]), 9.75)  # 80 sent scores rescored upwards
    assert held_by(gw, sis) == {"changed_scores"}


def test_lowered_scores(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    lowered = gw.scores["assessment_id"].eq(OWN[12]) & gw.scores["points_earned"].gt(0.5)  # 36 sent scores down
    gw.scores.loc[lowered, "points_earned"] = gw.scores.loc[lowered, "points_earned"] - 0.5
    assert held_by(gw, sis) == {"lowered_scores"}


def test_changed_line_items(after_history: tuple[Sis, World]) -> None:
    from passback.store import districts as store

    sis, gw = after_history
    store.set_mapping(engine(), "d1", {"Quiz": "cat-test"})  # a category mapping change: every quiz rewritten
    assert held_by(gw, sis) == {"changed_line_items"}


def test_writes_when_a_teacher_joins_the_group(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    gw.group_members.loc[len(gw.group_members)] = {"district_id": "d1", "user_id": "u-t2"}  # retroactive: 820 writes
    assert held_by(gw, sis) == {"writes"}


def test_zero_share_a_due_date_typo(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    add_assessment(gw, "typo", state="not_submitted", due=pd.Timestamp("2026-11-08"))  # meant for next month
    assert held_by(gw, sis) == {"zero_share"}


def test_guards_switched_off_let_the_flood_through(after_history: tuple[Sis, World]) -> None:
    from tests.toolkit import cli

    sis, gw = after_history
    add_assessment(gw, "typo", state="not_submitted")
    assert cli("district", "set", "d1", "--no-guards").code == 0
    summary = night(gw)
    assert summary.status == "completed" and summary.results["created"] == 40 and summary.guards == []
    assert summary.guard_measures["values"]["zero_share"] == 1.0  # still measured: the history goes on


def test_first_night_of_an_ordinary_district_passes(sis: Sis, gw: World) -> None:
    first = night(gw)
    assert first.status == "completed" and first.guards == []
    assert first.guard_measures["first_night"] is True
    assert first.guard_measures["values"]["new_zeros"] == 120  # a tenth of 1,200 grades: under 20 % of the gradebook


def test_dry_run_shows_what_would_be_held_and_holds_nothing(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    add_assessment(gw, "typo", state="not_submitted")
    summary = night(gw, dry_run=True)
    assert summary.status == "planned" and [g["name"] for g in summary.guards] == ["zero_share"]
    assert store_holds.latest_open(engine(), "d1") is None
