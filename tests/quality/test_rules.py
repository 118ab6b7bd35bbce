"""Every rule of both suites: the failing row gets exactly its reason, the passing row none."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from passback.domain.codes import ASSESSMENT_REASONS, PENDING_REASONS, SCORE_REASONS
from passback.quality import EXPECTATIONS_DIR, FrameContractError, RuleExecutionError, validate_frame
from passback.quality.validate import _raised_exception
from tests.quality.helpers import PASSING_ASSESSMENT, PASSING_SCORE, derived_frame

D = pd.Timestamp
ASSESSMENT_CASES = [
    ("duplicate_row", {"is_duplicate": True}),
    ("assessment_deleted", {"status": "deleted"}),
    ("assessment_deleted", {"status": None}),
    ("not_points_based", {"scoring": "standards"}),
    ("not_points_based", {"scoring": "rubric"}),
    ("not_points_based", {"scoring": None}),
    ("points_not_whole", {"points_possible": 10.5, "points_is_whole": False}),
    ("points_not_whole", {"points_possible": np.nan, "points_is_whole": False}),
    ("points_not_whole", {"points_possible": np.nan}),  # missing total, even if the flag says whole
    ("title_missing", {"title_length": 0}),
    ("title_too_long", {"title_length": 50}),
    ("not_in_final_grade", {"include_in_final_grade": False}),
    ("class_not_in_sis", {"class_in_sis": False}),
    ("assigner_not_in_sis", {"assigner_in_sis": False}),
    ("assigner_not_in_group", {"assigner_in_group": False}),
    ("missing_dates", {"assign_date": None}),
    ("missing_dates", {"due_date": None}),
    ("due_before_assign", {"due_date": D("2025-09-09")}),
    ("before_effective_date", {"assign_date": D("2025-08-31")}),
    ("outside_grading_periods", {"assign_gp": None}),
    ("outside_grading_periods", {"due_gp": None}),
    ("straddles_grading_periods", {"due_gp": "gp-2"}),
    ("grading_period_closed", {"gp_open": False}),
    ("category_unmapped", {"category_id": None}),
    ("category_not_in_sis", {"category_active": False}),
    ("nothing_to_send", {"has_sendable_score": False}),
]
SCORE_CASES = [
    ("duplicate_row", {"is_duplicate": True}),
    ("unknown_assessment", {"assessment_known": False}),
    ("score_excluded", {"excluded": True}),
    ("student_not_in_sis", {"student_in_sis": False}),
    ("not_yet_graded", {"state": "turned_in"}),
    ("not_yet_graded", {"state": "turned_in", "past_due": True, "points_valid": False}),
    ("not_yet_due", {"state": "not_submitted", "past_due": False}),
    ("not_yet_due", {"state": "not_submitted", "past_due": False, "points_valid": False}),
    ("score_invalid", {"points_valid": False}),
    ("score_invalid", {"state": None}),
    ("score_invalid", {"state": "lost", "past_due": False}),  # unknown state: invalid, not pending
]


def _outcome(suite, base, changes, order):
    frame = derived_frame([base, {**base, **changes}], index=["passes", "fails"])
    return validate_frame(frame, suite, reason_order=order)


@pytest.mark.parametrize(
    ("code", "changes"), ASSESSMENT_CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(ASSESSMENT_CASES)]
)
def test_assessment_rule(code, changes):
    outcome = _outcome("assessments", PASSING_ASSESSMENT, changes, ASSESSMENT_REASONS)
    assert pd.isna(outcome.reasons["passes"])
    assert outcome.reasons["fails"] == code
    assert outcome.counts == {code: 1}
    assert outcome.severities["fails"] == ("pending" if code in PENDING_REASONS else "error")


@pytest.mark.parametrize(("code", "changes"), SCORE_CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(SCORE_CASES)])
def test_score_rule(code, changes):
    outcome = _outcome("scores", PASSING_SCORE, changes, SCORE_REASONS)
    assert pd.isna(outcome.reasons["passes"])
    assert outcome.reasons["fails"] == code
    assert outcome.counts == {code: 1}


@pytest.mark.parametrize(
    ("changes"),
    [
        {"title_length": 49},
        {"title_length": 1},
        {"points_possible": 1.0},
        {"due_date": D("2025-09-10")},  # due == assign
        {"assign_date": D("2025-09-01"), "due_date": D("2025-09-01")},  # assign == effective date
        {"points_possible": 1e9},
    ],
)
def test_assessment_boundaries_pass(changes):
    outcome = _outcome("assessments", PASSING_ASSESSMENT, changes, ASSESSMENT_REASONS)
    assert outcome.reasons.isna().all(), outcome.reasons.to_dict()


@pytest.mark.parametrize(
    "changes",
    [
        {"state": "not_submitted", "past_due": True, "points_valid": False},  # missing after the due date: a 0
        {"state": "not_submitted", "past_due": True, "points_valid": True},
        {"state": "graded", "past_due": False},  # graded early
    ],
)
def test_score_cases_that_pass(changes):
    outcome = _outcome("scores", PASSING_SCORE, changes, SCORE_REASONS)
    assert outcome.reasons.isna().all(), outcome.reasons.to_dict()


def test_row_breaking_several_rules_gets_the_earliest_reason():
    frame = derived_frame(
        [
            {**PASSING_ASSESSMENT, "title_length": 80, "category_id": None, "status": "deleted"},
            {**PASSING_ASSESSMENT, "title_length": 80, "include_in_final_grade": False, "has_sendable_score": False},
            {**PASSING_ASSESSMENT, "gp_open": False, "due_gp": "gp-2", "due_date": D("2025-09-01")},
        ]
    )
    outcome = validate_frame(frame, "assessments", reason_order=ASSESSMENT_REASONS)
    assert outcome.reasons.tolist() == ["assessment_deleted", "title_too_long", "due_before_assign"]

    scores = derived_frame([{**PASSING_SCORE, "excluded": True, "student_in_sis": False, "state": "turned_in"}])
    assert validate_frame(scores, "scores", reason_order=SCORE_REASONS).reasons.tolist() == ["score_excluded"]


def test_reason_order_decides_which_failing_rule_wins():
    frame = derived_frame([{**PASSING_SCORE, "excluded": True, "student_in_sis": False, "state": "turned_in"}])
    reversed_order = tuple(reversed(SCORE_REASONS))
    # turned_in also breaks score_invalid's "state in {graded, not_submitted}", last in the usual order
    assert validate_frame(frame, "scores", reason_order=reversed_order).reasons.tolist() == ["score_invalid"]


def test_changing_a_threshold_in_the_json_changes_the_outcome(tmp_path):
    data = json.loads((EXPECTATIONS_DIR / "assessments.json").read_text())
    for exp in data["expectations"]:
        if exp["meta"]["reason_code"] == "title_too_long":
            exp["kwargs"]["max_value"] = 29
    (tmp_path / "assessments.json").write_text(json.dumps(data))
    frame = derived_frame([{**PASSING_ASSESSMENT, "title_length": n} for n in (29, 30, 49)])

    default = validate_frame(frame, "assessments", reason_order=ASSESSMENT_REASONS)
    changed = validate_frame(frame, "assessments", reason_order=ASSESSMENT_REASONS, directory=tmp_path)
    assert default.reasons.isna().all()
    assert pd.isna(changed.reasons.iloc[0])
    assert changed.reasons.iloc[1:].tolist() == ["title_too_long", "title_too_long"]


def test_reasons_align_with_the_frame_index_and_map_back_to_every_row():
    rng = np.random.default_rng(7)
    patterns = [
        PASSING_SCORE,
        {**PASSING_SCORE, "excluded": True},
        {**PASSING_SCORE, "state": None},
        {**PASSING_SCORE, "state": "not_submitted", "past_due": False},
    ]
    picks = rng.integers(0, len(patterns), 5000)
    index = pd.Index(rng.permutation(10_000)[:5000] * 3, name="row")
    frame = derived_frame([patterns[i] for i in picks], index=list(index))
    outcome = validate_frame(frame, "scores", reason_order=SCORE_REASONS)
    expected = pd.Series(
        np.array([None, "score_excluded", "score_invalid", "not_yet_due"], dtype=object)[picks],
        index=frame.index,
        dtype="str",
    )
    assert outcome.combinations == 4
    assert outcome.reasons.index.equals(frame.index)
    assert str(outcome.reasons.dtype) == "str"
    pd.testing.assert_series_equal(outcome.reasons, expected, check_names=False)
    assert sum(outcome.counts.values()) == int(outcome.reasons.notna().sum())


def test_missing_column_is_a_contract_error():
    frame = derived_frame([PASSING_SCORE]).drop(columns=["past_due"])
    with pytest.raises(FrameContractError, match="past_due"):
        validate_frame(frame, "scores", reason_order=SCORE_REASONS)


def test_reason_order_must_hold_every_code_of_the_suite():
    with pytest.raises(ValueError, match="score_invalid"):
        validate_frame(derived_frame([PASSING_SCORE]), "scores", reason_order=SCORE_REASONS[:-1])


def test_an_expectation_that_errors_is_reported_never_passed():
    frame = derived_frame([PASSING_ASSESSMENT, PASSING_ASSESSMENT])
    frame["due_date"] = pd.Series([PASSING_ASSESSMENT["due_date"], "soon"], dtype=object)
    with pytest.raises(RuleExecutionError) as caught:
        validate_frame(frame, "assessments", reason_order=ASSESSMENT_REASONS)
    assert caught.value.reason_code == "due_before_assign"
    assert "expect_column_pair_values_a_to_be_greater_than_b" in str(caught.value)


def test_an_expectation_on_a_renamed_column_errors(tmp_path):
    shutil.copy(EXPECTATIONS_DIR / "scores.json", tmp_path / "scores.json")
    frame = derived_frame([PASSING_SCORE])
    frame["title_length"] = ["long"]
    data = json.loads((tmp_path / "scores.json").read_text())
    data["expectations"].append(
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "title_length", "max_value": 3},
            "meta": {"reason_code": "score_invalid", "severity": "error", "rule": "type clash"},
        }
    )
    (tmp_path / "scores.json").write_text(json.dumps(data))
    with pytest.raises(RuleExecutionError, match="score_invalid"):
        validate_frame(frame, "scores", reason_order=SCORE_REASONS, directory=tmp_path)


def test_nested_exception_info_is_found():
    assert _raised_exception({"raised_exception": False, "exception_message": None}) is None
    nested = {
        "MetricConfigurationID(a)": {"raised_exception": False},
        "MetricConfigurationID(b)": {"raised_exception": True, "exception_message": "boom"},
    }
    assert _raised_exception(nested) == "boom"
    assert _raised_exception({"x": {"y": {"raised_exception": True, "exception_message": "deep"}}}) == "deep"


def test_other_dtypes_of_the_same_values_give_the_same_reasons():
    rows = [PASSING_ASSESSMENT] + [{**PASSING_ASSESSMENT, **changes} for _, changes in ASSESSMENT_CASES]
    frame = derived_frame(rows)
    expected = validate_frame(frame, "assessments", reason_order=ASSESSMENT_REASONS).reasons
    other = frame.copy()
    for col in other.columns:
        if other[col].dtype == bool:
            other[col] = other[col].astype("boolean")
    other["title_length"] = other["title_length"].astype("Int64")
    other["points_possible"] = other["points_possible"].astype("Float64")
    other["status"] = other["status"].astype("category")
    other["scoring"] = other["scoring"].astype(object)
    other["assign_date"] = other["assign_date"].dt.tz_localize("America/Chicago")
    other["due_date"] = other["due_date"].dt.tz_localize("America/Chicago")
    other["effective_date"] = pd.Series(list(frame["effective_date"].dt.date), dtype=object)
    outcome = validate_frame(other, "assessments", reason_order=ASSESSMENT_REASONS)
    pd.testing.assert_series_equal(outcome.reasons, expected)
    assert expected.iloc[1:].tolist() == [code for code, _ in ASSESSMENT_CASES]


def test_suite_objects_not_loaded_by_load_suite_are_refused():
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name="scores",
        expectations=[
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "excluded", "value_set": [False]},
                "meta": {"reason_code": "score_excluded", "severity": "error", "rule": "x"},
            },
        ],
    )
    with pytest.raises(ValueError, match="load_suite"):
        validate_frame(derived_frame([PASSING_SCORE]), suite, reason_order=SCORE_REASONS)
