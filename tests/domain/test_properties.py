"""Property tests over the source contract: any rows classify, exactly one outcome each, and every
payload produced is one the SIS (the simulator's own validation, in process) accepts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passback.domain.codes import ASSESSMENT_REASONS, OTUS_TYPES, SCORE_REASONS
from passback.domain.payloads import line_item_payload, result_payload
from passback.scenario import Scenario
from passback.simulator.app import create_app
from passback.sync.evaluate import evaluate
from tests.factory import CLIENT_ID, CLIENT_SECRET, context, scenario_for, world

ODD_TEXT = st.one_of(
    st.none(), st.text(max_size=60), st.sampled_from(["🙂" * 49, "🙂" * 50, "é" * 49, "  ", "Quiz\x00"])
)
POINTS = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([10.0, 10.5, 0.0, -5.0, 1e12, 100.0])
)
DATES = st.one_of(st.none(), st.dates(dt.date(2026, 7, 1), dt.date(2027, 2, 28)).map(pd.Timestamp))

ASSESSMENT = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a-1", "a-2", "a-3"]),
        "district_id": st.just("d1"),
        "class_id": st.sampled_from(["c-1", "c-2", "c-x", None]),
        "assigned_by": st.sampled_from(["u-t1", "u-t2", "u-adm", "u-x", None]),
        "title": ODD_TEXT,
        "assessment_type": st.sampled_from([*OTUS_TYPES, "Poster", "quiz", None]),
        "scoring": st.sampled_from(["points", "rubric", "Points", None]),
        "points_possible": POINTS,
        "include_in_final_grade": st.sampled_from([True, False, None]),
        "assign_date": DATES,
        "due_date": DATES,
        "status": st.sampled_from(["active", "deleted", "archived", None]),
        "updated_at": st.just(pd.Timestamp("2026-11-10 12:00")),
    }
)
SCORE = st.fixed_dictionaries(
    {
        "assessment_id": st.sampled_from(["a-1", "a-2", "a-3", "a-orphan"]),
        "student_id": st.sampled_from(["u-s1", "u-s2", "u-s3", "u-t1", "u-zz", None]),
        "points_earned": POINTS,
        "state": st.sampled_from(["graded", "submitted", "missing", "assigned", "weird", None]),
        "excluded": st.sampled_from([True, False, None]),
        "updated_at": st.just(pd.Timestamp("2026-11-10 12:00")),
    }
)


@pytest.fixture(scope="module")
def sis() -> Iterator[TestClient]:
    """The simulator in process, seeded with the factory world's SIS side (the rules that matter:
    class, category, grading periods open/closed, enrolled students)."""
    scenario = Scenario(districts=[scenario_for(world())])
    with TestClient(create_app(scenario, db_path=":memory:")) as client:
        token = client.post(
            "/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(assessments=st.lists(ASSESSMENT, min_size=1, max_size=6), scores=st.lists(SCORE, max_size=12))
def test_any_rows_classify_once_and_every_payload_is_accepted(sis: TestClient, assessments: list, scores: list) -> None:
    w = world(assessments, scores, group=["u-t1", "u-adm"])
    ev = evaluate(w, context())

    # exactly one outcome per row: a known reason, or (eligible) a planned item
    assert len(ev.assessments) == len(assessments) and len(ev.scores) == len(scores)
    a_reason = ev.assessments["reason"]
    assert a_reason.dropna().isin([*ASSESSMENT_REASONS]).all()
    s_reason = ev.scores["reason"]
    assert s_reason.dropna().isin([*SCORE_REASONS, "assessment_ineligible", "line_item_rejected"]).all()
    eligible = ev.assessments.loc[a_reason.isna(), "id"]
    assert set(ev.plan.line_items["assessment_id"]) == set(eligible)
    passing = ev.scores[s_reason.isna()]
    assert len(ev.plan.results) == len(passing)

    # every payload is valid for the SIS: lineItems first, then their results
    for row in ev.plan.line_items.itertuples(index=False):
        sid, body = line_item_payload("d1", row)
        answer = sis.put(f"/d1/ims/oneroster/v1p1/lineItems/{sid}", content=json.dumps(body))
        assert answer.status_code in (200, 201), (body, answer.text)
    for row in ev.plan.results.itertuples(index=False):
        sid, body = result_payload("d1", row)
        answer = sis.put(f"/d1/ims/oneroster/v1p1/results/{sid}", content=json.dumps(body))
        assert answer.status_code in (200, 201), (body, answer.text)
