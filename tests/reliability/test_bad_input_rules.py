"""Bad input, the rules over arbitrary frames and configurations (Hypothesis, no I/O): every row leaves
with exactly one reason or as eligible, the reason is the first rule that applies (the oracle in
``_bad_input.py``), and every planned payload is one the SIS accepts."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from passback.domain.codes import ASSESSMENT_REASONS, SCORE_REASONS
from passback.sync.evaluate import evaluate
from tests.factory import World, assessment, score, world
from tests.reliability._bad_input import (
    CLASSES,
    PLAIN_CONTEXT,
    USERS,
    _as_list,
    assert_payloads_acceptable,
    contexts,
    oracle,
    sources,
)


def test_every_row_gets_exactly_the_first_reason_that_applies_and_only_valid_payloads_are_planned() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=35, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @example(
        source=(
            [assessment(id="a-0"), assessment(id="a-1", title="Lab", assessment_type="Lab")],
            [
                score(assessment_id="a-0"),
                score(assessment_id="a-1", student_id="u-s2", state="not_submitted", points_earned=None),
            ],
        ),
        group=["u-t1"],
        ctx_now=PLAIN_CONTEXT,
    )
    @given(
        sources(),
        st.lists(st.sampled_from(["u-t1", "u-t2", "u-adm", "u-zz"]), unique=True).map(
            lambda g: g if len(g) != 1 else ["u-t1", *g]
        ),
        contexts(),
    )
    def check(source: Any, group: list[str], ctx_now: Any) -> None:
        (assessments, scores), (ctx, utc_now) = source, ctx_now
        w = World(
            users=USERS,
            classes=CLASSES,
            enrollments=world().enrollments,
            assessments=pd.DataFrame(assessments),
            scores=pd.DataFrame(
                scores, columns=["assessment_id", "student_id", "points_earned", "state", "excluded", "updated_at"]
            ),
            group_members=pd.DataFrame({"district_id": "d1", "user_id": pd.Series(group, dtype="str")}),
        )
        ev = evaluate(w, ctx)
        # exactly one outcome per row: the frames keep every row, each with one known reason or none
        assert len(ev.assessments) == len(assessments) and len(ev.scores) == len(scores)
        a_got, s_got = _as_list(ev.assessments["reason"]), _as_list(ev.scores["reason"])
        assert set(a_got) - {None} <= set(ASSESSMENT_REASONS)
        assert set(s_got) - {None} <= set(SCORE_REASONS)
        # ... and it is the first rule that applies (PRODUCT.md order)
        a_want, s_want = oracle(assessments, scores, group, ctx, utc_now)
        assert a_got == a_want
        assert s_got == s_want
        # the plan writes exactly the eligible rows, and nothing the SIS would refuse
        assert len(ev.plan.line_item_writes) == a_got.count(None)
        assert len(ev.plan.result_writes) == s_got.count(None)
        assert_payloads_acceptable(ev, ctx)
        seen.update(r or "eligible" for r in a_got + s_got)

    check()
    # the examples exercised both sides of the rules (not a vacuous pass)
    assert seen["eligible"] > 0 and len(seen) >= 8, seen
