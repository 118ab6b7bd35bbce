"""Change detection and retroactivity, at the plan level: what a rerun would write.

``acknowledge`` plays the SIS: every planned write is acknowledged into the ledger frames."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from passback.domain.plan import empty_ledger
from passback.sync.evaluate import Evaluation, evaluate
from tests.factory import assessment, context, score, world


class Ledger:
    def __init__(self) -> None:
        self.line_items = empty_ledger()
        self.results = empty_ledger()

    def plan(self, w, ctx=None) -> Evaluation:
        return evaluate(w, ctx or context(), ledger_line_items=self.line_items, ledger_results=self.results)

    def acknowledge(self, ev: Evaluation) -> None:
        for attr, frame in (("line_items", ev.plan.line_item_writes), ("results", ev.plan.result_writes)):
            acked = frame[["assessment_id", "student_id", "payload_hash"]].assign(status="acked")
            old = getattr(self, attr)
            keep = ~(old["assessment_id"] + "|" + old["student_id"]).isin(
                acked["assessment_id"] + "|" + acked["student_id"]
            )
            setattr(self, attr, pd.concat([old[keep], acked], ignore_index=True))


def writes(ev: Evaluation) -> tuple[dict, dict]:
    return (
        ev.plan.line_item_writes["action"].value_counts().to_dict(),
        ev.plan.result_writes["action"].value_counts().to_dict(),
    )


def two_teacher_world(group: list[str], a2_due: pd.Timestamp | None = None) -> object:
    rows = [assessment(id="a-1"), assessment(id="a-2", assigned_by="u-t2", title="Lab report")]
    if a2_due is not None:
        rows[1]["due_date"] = a2_due
    scores = [
        score(assessment_id=a, student_id=s, points_earned=p)
        for a in ("a-1", "a-2")
        for s, p in (("u-s1", 7.0), ("u-s2", 9.5))
    ]
    return world(rows, scores, group=group)


def test_first_run_creates_then_rerun_plans_nothing() -> None:
    ledger = Ledger()
    first = ledger.plan(two_teacher_world(["u-t1", "u-t2"]))
    assert writes(first) == ({"create": 2}, {"create": 4})
    ledger.acknowledge(first)
    assert writes(ledger.plan(two_teacher_world(["u-t1", "u-t2"]))) == ({}, {})


def test_title_change_plans_one_line_item_update_and_no_result_updates() -> None:
    ledger = Ledger()
    ledger.acknowledge(ledger.plan(world([assessment()], [score(), score(student_id="u-s2")])))
    ev = ledger.plan(world([assessment(title="Fractions quiz (retake)")], [score(), score(student_id="u-s2")]))
    assert writes(ev) == ({"update": 1}, {})


def test_score_change_plans_one_result_update() -> None:
    ledger = Ledger()
    ledger.acknowledge(ledger.plan(world([assessment()], [score(), score(student_id="u-s2")])))
    ev = ledger.plan(world([assessment()], [score(), score(student_id="u-s2", points_earned=9.0)]))
    assert writes(ev) == ({}, {"update": 1})


def test_adding_a_teacher_plans_their_whole_eligible_backlog() -> None:
    ledger = Ledger()
    ledger.acknowledge(ledger.plan(two_teacher_world(["u-t1"])))
    ev = ledger.plan(two_teacher_world(["u-t1", "u-t2"]))
    assert writes(ev) == ({"create": 1}, {"create": 2})
    assert set(ev.plan.line_item_writes["assessment_id"]) == {"a-2"}


def test_retroactive_only_back_to_the_later_of_period_start_and_effective_date() -> None:
    rows = [
        assessment(
            id="early", assigned_by="u-t2", assign_date=pd.Timestamp("2026-10-20"), due_date=pd.Timestamp("2026-10-22")
        ),
        assessment(
            id="late", assigned_by="u-t2", assign_date=pd.Timestamp("2026-11-05"), due_date=pd.Timestamp("2026-11-06")
        ),
        assessment(
            id="closed", assigned_by="u-t2", assign_date=pd.Timestamp("2026-09-01"), due_date=pd.Timestamp("2026-09-03")
        ),
    ]
    scores = [score(assessment_id=r["id"]) for r in rows]
    ev = Ledger().plan(world(rows, scores, group=["u-t1", "u-t2"]), context(effective_date=dt.date(2026, 11, 1)))
    assert set(ev.plan.line_item_writes["assessment_id"]) == {"late"}
    reasons = dict(zip(ev.assessments["id"], ev.assessments["reason"], strict=True))
    assert reasons["early"] == "before_effective_date" and reasons["closed"] == "before_effective_date"


def test_removing_a_teacher_plans_nothing_and_deletes_nothing() -> None:
    ledger = Ledger()
    ledger.acknowledge(ledger.plan(two_teacher_world(["u-t1", "u-t2"])))
    ev = ledger.plan(two_teacher_world(["u-t1"]))
    assert writes(ev) == ({}, {})
    assert (ev.assessments.set_index("id").loc["a-2", "reason"]) == "assigner_not_in_group"
    assert "delete" not in set(ev.plan.line_items["action"])


def test_re_adding_a_teacher_resends_only_what_changed_meanwhile() -> None:
    ledger = Ledger()
    ledger.acknowledge(ledger.plan(two_teacher_world(["u-t1", "u-t2"])))
    ledger.acknowledge(ledger.plan(two_teacher_world(["u-t1"])))  # removed: nothing sent
    changed = two_teacher_world(["u-t1", "u-t2"], a2_due=pd.Timestamp("2026-11-10"))
    ev = ledger.plan(changed)
    assert writes(ev) == ({"update": 1}, {})


def test_moving_the_effective_date_earlier_plans_the_newly_eligible_items_only() -> None:
    rows = [
        assessment(id="old", assign_date=pd.Timestamp("2026-10-20"), due_date=pd.Timestamp("2026-10-23")),
        assessment(id="new", assign_date=pd.Timestamp("2026-11-05"), due_date=pd.Timestamp("2026-11-06")),
    ]
    w = world(rows, [score(assessment_id="old"), score(assessment_id="new")])
    ledger = Ledger()
    ledger.acknowledge(ledger.plan(w, context(effective_date=dt.date(2026, 11, 1))))
    ev = ledger.plan(w, context(effective_date=dt.date(2026, 10, 19)))
    assert set(ev.plan.line_item_writes["assessment_id"]) == {"old"}
    assert set(ev.plan.result_writes["assessment_id"]) == {"old"}
