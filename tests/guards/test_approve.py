"""A held night waits for a person: `passback approve` lets exactly the plan that was shown through;
a different plan is held again; `reject` writes nothing.  Who decided, when and why is kept."""

from __future__ import annotations

import json

import pandas as pd

from passback.store import holds as store_holds
from passback.store import runs as store_runs
from tests.factory import World
from tests.guards.helpers import (
    STUDENTS,
    add_assessment,
    engine,
    night,
    stored,
)
from tests.toolkit import Sis, cli


def typo_night(w: World, sis: Sis, aid: str = "typo") -> dict:
    """Plant a due-date typo (40 auto-zeros in one assessment) and run: held."""
    add_assessment(w, aid, state="not_submitted", due=pd.Timestamp("2026-11-08"))
    summary = night(w)
    assert summary.status == "held" and [g["name"] for g in summary.guards] == ["zero_share"]
    return summary.as_json()


def test_approve_then_the_next_run_writes_exactly_the_approved_plan(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    held = typo_night(gw, sis)
    before = stored(sis)
    ran = cli("approve", "d1", "--note", "the typo is real: nobody submitted", "--by", "Dana (registrar)")
    assert ran.code == 0, ran.err
    assert "approved the held plan of d1 (41 writes" in ran.out
    hold = store_holds.get_hold(engine(), held["hold"]["id"])
    assert hold.status == "approved" and hold.decided_by == "Dana (registrar)" and hold.decided_at is not None

    summary = night(gw)
    assert summary.status == "completed" and summary.guards == []
    assert summary.writes == hold.writes == 41 and (summary.line_items["created"], summary.results["created"]) == (
        1,
        40,
    )
    assert stored(sis) == (before[0] + 1, before[1] + 40)
    applied = store_holds.get_hold(engine(), hold.id)
    assert applied.status == "applied" and applied.applied_run_id == summary.run_id
    recorded = json.loads(store_runs.get_run(engine(), summary.run_id).counts)  # the run history keeps who and why
    assert recorded["approvals"][0]["decided_by"] == "Dana (registrar)"
    assert recorded["approvals"][0]["note"] == "the typo is real: nobody submitted"
    assert recorded["guard_measures"]["approved"] is True and recorded["guard_measures"]["covered"] == 41
    assert night(gw).writes == 0  # and then nothing more


def test_source_changes_after_the_hold_the_new_plan_is_held_again(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    first = typo_night(gw, sis)
    before = stored(sis)
    gw.assessments.loc[gw.assessments["id"] == "typo", "due_date"] = pd.Timestamp("2027-01-08")  # fixed ...
    second = typo_night(gw, sis, aid="typo-2")  # ... and another one made
    assert second["hold"]["id"] != first["hold"]["id"] and second["hold"]["digest"] != first["hold"]["digest"]
    assert store_holds.get_hold(engine(), first["hold"]["id"]).status == "superseded"
    assert stored(sis) == before


def test_approved_then_a_different_flood_is_held_again(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    typo_night(gw, sis)
    assert cli("approve", "d1").code == 0
    before = stored(sis)
    typo_night(gw, sis, aid="typo-2")  # the approved writes and a new flood: the new one trips
    assert stored(sis) == before


def test_approved_plan_plus_ordinary_grading_goes_through(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    typo_night(gw, sis)
    assert cli("approve", "d1").code == 0
    add_assessment(gw, "ordinary", points_of=lambda i: 6.0)  # a teacher graded a quiz since the hold
    summary = night(gw)
    assert summary.status == "completed" and summary.writes == 41 + 41


def test_reject_writes_nothing_and_the_next_night_is_checked_again(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    held = typo_night(gw, sis)
    ran = cli("reject", "d1", "--note", "wrong due date, teacher fixes it", "--by", "Dana")
    assert ran.code == 0 and "rejected the held plan of d1" in ran.out
    rejected = store_holds.get_hold(engine(), held["hold"]["id"])
    assert (rejected.status, rejected.decided_by, rejected.note) == (
        "rejected",
        "Dana",
        "wrong due date, teacher fixes it",
    )
    again = night(gw)
    assert again.status == "held" and again.hold["id"] != held["hold"]["id"]


def test_approve_without_a_held_plan_says_so(sis: Sis, gw: World) -> None:
    assert night(gw).status == "completed"
    ran = cli("approve", "d1")
    assert ran.code == 2 and "district d1 has no plan waiting for approval" in ran.err
    assert len(ran.err_lines) == 1


def test_held_summary_counts_what_waits(after_history: tuple[Sis, World]) -> None:
    sis, gw = after_history
    held = typo_night(gw, sis)
    assert held["writes"] == 0 and held["results"]["created"] == 0 and held["results"]["pending"] == 40
    assert held["line_items"]["pending"] == 1
    assert held["hold"]["command"].startswith("passback approve d1")
    assert set(STUDENTS[:1]).isdisjoint(json.dumps(held["guards"]))
