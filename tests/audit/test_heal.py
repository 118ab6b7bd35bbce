"""Refusals that heal: a refused item is tried again on a per-item schedule (1, 2, 4 ... nights, at
most weekly) and at once when its payload changes; a grading period learned closed is re-checked."""

from __future__ import annotations

from typing import Any

from passback.domain.plan import refusal_wait_days
from passback.settings import get_settings
from passback.store import ledger
from passback.store.db import get_engine
from tests.audit.conftest import sync_on
from tests.e2e.conftest import Sis


def test_the_schedule_doubles_up_to_its_cap() -> None:
    assert [refusal_wait_days(n, 7) for n in range(1, 7)] == [1, 2, 4, 7, 7, 7]
    assert refusal_wait_days(3, 30) == 4 and refusal_wait_days(1, 0) is None


def test_a_score_refused_for_a_missing_enrollment_is_sent_once_the_sis_enrols_the_student(
        late_enrolment: tuple[Sis, Any]) -> None:
    sis, missing = late_enrolment
    first = sync_on(0)
    assert first.status == "completed" and (first.results["created"], first.results["rejected"]) == (2, 2), first.error
    again = sync_on(1)  # due the next night: tried, refused again (next try two nights later)
    assert again.writes == 2 and again.results["rejected"] == 2
    for e in missing:  # the SIS enrols the student the day after
        sis.admin("POST", "tenants/d1/enrollments", json={"class_id": e.classSourcedId, "user_id": e.userSourcedId})
    waiting = sync_on(2)
    assert waiting.writes == 0 and waiting.results["rejected"] == 2  # held until its next try
    healed = sync_on(3)
    assert healed.writes == 2 and healed.results.get("rejected", 0) == 0, healed.rejected
    assert ledger.ledger_counts(get_engine(get_settings().state_db_url), "d1")["result"] == {"acked": 4}
    assert sync_on(4).writes == 0


def test_a_permanently_refused_item_is_tried_on_the_schedule_only(late_enrolment: tuple[Sis, Any]) -> None:
    writes = [sync_on(n).writes for n in range(0, 9)]
    assert writes == [6, 2, 0, 2, 0, 0, 0, 2, 0]  # nights 0 (all), 1, 3, 7: after 1, 2, 4 nights


def test_a_changed_payload_of_a_refused_item_is_sent_at_once(late_enrolment: tuple[Sis, Any], factory_world: Any) -> None:
    from tests.e2e.conftest import rewrite_source

    w = factory_world
    assert sync_on(0).results["rejected"] == 2
    w.scores.loc[(w.scores["assessment_id"] == "a-1") & (w.scores["student_id"] == "u-s2"), "points_earned"] = 3.0
    rewrite_source(w)
    changed = sync_on(0)  # the same night: only the changed one goes
    assert changed.writes == 1 and changed.results["rejected"] == 2
