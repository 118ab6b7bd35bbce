"""Refusals that heal: a refused item is tried again on a per-item schedule (1, 2, 4 ... nights, at
most weekly) and at once when its payload changes; a grading period learned closed is re-checked."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from passback.domain.plan import refusal_wait_days
from passback.settings import get_settings
from passback.store import ledger
from passback.store.db import get_engine
from tests.audit.helpers import night, sis_period, sync_on
from tests.toolkit import Sis, cli


def test_the_schedule_doubles_up_to_its_cap() -> None:
    assert [refusal_wait_days(n, 7) for n in range(1, 7)] == [1, 2, 4, 7, 7, 7]
    assert refusal_wait_days(3, 30) == 4 and refusal_wait_days(1, 0) is None


def test_a_score_refused_for_a_missing_enrollment_is_sent_once_the_sis_enrols_the_student(
    late_enrolment: tuple[Sis, Any],
) -> None:
    sis, missing = late_enrolment
    first = sync_on(0)
    assert first.status == "completed" and (first.results["created"], first.results["rejected"]) == (2, 2), first.error
    again = sync_on(1)  # due the next night: tried, refused again (next try two nights later)
    assert again.writes == 2 and again.results["rejected"] == 2
    for e in missing:  # the SIS enrols the student the day after
        sis.admin("POST", "tenants/d1/enrollments", json={"class_id": e.classSourcedId, "user_id": e.userSourcedId})
    assert {r["message"].rsplit(" (", 1)[1] for r in again.rejected} == {
        "refused 2 times since 2026-11-18, next try 2026-11-21)"
    }
    assert all("enrolled" in r["message"] for r in again.rejected)  # with the SIS's own words
    waiting = sync_on(2)
    assert waiting.writes == 0 and waiting.results["rejected"] == 2  # held until its next try
    assert [r["message"].rsplit(" (", 1)[1] for r in waiting.rejected] == [
        "refused 2 times since 2026-11-18, next try 2026-11-21)"
    ] * 2
    explained = cli("explain", "d1", "a-1", "--json")
    assert explained.code == 0, explained.err
    s2 = next(s for s in json.loads(explained.out)["scores"] if s["student_id"] == "u-s2")
    assert s2["status"] == "rejected" and "enrolled" in s2["message"]
    assert s2["message"].endswith("(refused 2 times since 2026-11-18, next try 2026-11-21)")
    healed = sync_on(3)
    assert healed.writes == 2 and healed.results.get("rejected", 0) == 0, healed.rejected
    assert ledger.ledger_counts(get_engine(get_settings().state_db_url), "d1")["result"] == {"acked": 4}
    assert sync_on(4).writes == 0


def test_a_permanently_refused_item_is_tried_on_the_schedule_only(late_enrolment: tuple[Sis, Any]) -> None:
    writes = [sync_on(n).writes for n in range(0, 9)]
    assert writes == [6, 2, 0, 2, 0, 0, 0, 2, 0]  # nights 0 (all), 1, 3, 7: after 1, 2, 4 nights


def test_a_changed_payload_of_a_refused_item_is_sent_at_once(
    late_enrolment: tuple[Sis, Any], factory_world: Any
) -> None:
    from tests.toolkit import rewrite_source

    w = factory_world
    assert sync_on(0).results["rejected"] == 2
    w.scores.loc[(w.scores["assessment_id"] == "a-1") & (w.scores["student_id"] == "u-s2"), "points_earned"] = 3.0
    rewrite_source(w)
    changed = sync_on(0)  # the same night: only the changed one goes
    assert changed.writes == 1 and changed.results["rejected"] == 2


def _learned_closed(sis: Sis, period_id: str, n: int) -> None:
    """As if a write into the period had been refused "closed" on night n (the SIS's record as it is now)."""
    from passback.sync.heal import note_closed

    record = sis_period(sis, period_id)
    note_closed(
        get_engine(get_settings().state_db_url),
        "d1",
        period_id,
        "grading period closed",
        night(n),
        record.get("dateLastModified"),
    )


def _in_sis(sis: Sis) -> int:
    state = sis.state()
    return state["counts"]["lineItems"] + state["counts"]["results"]


def test_a_period_learned_closed_resumes_when_the_sis_says_it_reopened(sis: Sis) -> None:
    _learned_closed(sis, "gp-q2", 0)
    held = sync_on(0)
    assert held.status == "completed" and held.writes == 0 and _in_sis(sis) == 0
    assert held.reasons.get("grading_period_closed", 0) > 0, held.reasons
    assert sync_on(1).writes == 0  # still closed: the SIS said nothing new, no probe before a week
    sis.admin("POST", "tenants/d1/grading-periods/gp-q2/close")  # the SIS closes and reopens it: its record changes
    sis.admin("POST", "tenants/d1/grading-periods/gp-q2/open")
    resumed = sync_on(2)
    assert resumed.writes == 6 and _in_sis(sis) == 6, resumed.error
    with get_engine(get_settings().state_db_url).connect() as conn:
        assert (
            conn.execute(
                text("SELECT COUNT(*) FROM closed_grading_period WHERE grading_period_id = 'gp-q2'")
            ).scalar_one()
            == 0
        )
    assert sync_on(3).writes == 0


def test_a_period_learned_closed_is_probed_weekly_by_one_write_and_resumes(sis: Sis) -> None:
    _learned_closed(sis, "gp-q2", 0)
    assert [sync_on(n).writes for n in range(0, 7)] == [0] * 7  # the SIS's record is unchanged: wait for the probe
    probed = sync_on(7)  # a week later: one probe write, acknowledged -> the period is open, the rest follows
    assert probed.writes == 6 and _in_sis(sis) == 6, probed.error
    assert sync_on(8).writes == 0


def test_a_refused_probe_keeps_the_period_closed_until_the_next_probe(state_url: str) -> None:
    from passback.sync.heal import check, note_closed

    engine = get_engine(state_url)
    note_closed(engine, "d1", "gp-x", "closed", night(0), "2026-11-01T00:00:00.000Z")
    assert check(engine, "d1", {"gp-x": "2026-11-01T00:00:00.000Z"}, night(6)).closed == {"gp-x"}
    assert check(engine, "d1", {}, night(7)).probe == {"gp-x"}
    note_closed(engine, "d1", "gp-x", "closed", night(7), "2026-11-01T00:00:00.000Z")  # the probe was refused
    assert check(engine, "d1", {"gp-x": "2026-11-01T00:00:00.000Z"}, night(13)).closed == {"gp-x"}
    assert check(engine, "d1", {}, night(14)).probe == {"gp-x"}
    assert check(engine, "d1", {"gp-x": "2026-11-20T08:00:00.000Z"}, night(8)).reopened == {"gp-x"}
