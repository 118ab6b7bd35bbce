"""Property: whatever NA / inf / odd text / unknown enum values the derived columns hold,
validation never raises, every row gets exactly one outcome, NA never passes silently, and
validating the distinct combinations gives the same outcome as validating every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passback.domain.codes import ASSESSMENT_REASONS, SCORE_REASONS
from passback.quality import validate_frame
from tests.quality.helpers import PASSING_ASSESSMENT, PASSING_SCORE

NA_VALUES = st.sampled_from([None, np.nan, pd.NA])
ODD_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6) | st.sampled_from(
    ["", " ", "\u0000", "e\u0301", "\U0001f600", "ÄCTIVE", "active ", "NaN", "None", "<NA>"]
)
FLAG = st.booleans() | NA_VALUES
DATE = (
    st.dates(min_value=pd.Timestamp("2025-08-25").date(), max_value=pd.Timestamp("2025-09-20").date()).map(pd.Timestamp)
    | st.none()
)
NUMBER = st.sampled_from([10.0, 10.5, 0.0, -1.0, 1.0, 49.0, 50.0, np.inf, -np.inf, np.nan]) | st.none()


def text(*vocabulary: str):
    return st.sampled_from(vocabulary) | ODD_TEXT | NA_VALUES


ASSESSMENT_COLUMNS = {
    "is_duplicate": FLAG,
    "status": text("active", "deleted"),
    "scoring": text("points", "standards", "rubric"),
    "points_possible": NUMBER,
    "points_is_whole": FLAG,
    "title_length": st.integers(0, 60) | st.sampled_from([np.nan, np.inf, None]),
    "include_in_final_grade": FLAG,
    "class_in_sis": FLAG,
    "assigner_in_sis": FLAG,
    "assigner_in_group": FLAG,
    "assign_date": DATE,
    "due_date": DATE,
    "effective_date": DATE,
    "assign_gp": text("gp-1", "gp-2"),
    "due_gp": text("gp-1", "gp-2"),
    "gp_open": FLAG,
    "category_id": text("cat-1"),
    "category_active": FLAG,
    "has_sendable_score": FLAG,
}
SCORE_COLUMNS = {
    "is_duplicate": FLAG,
    "assessment_known": FLAG,
    "excluded": FLAG,
    "student_in_sis": FLAG,
    "state": text("graded", "turned_in", "not_submitted"),
    "past_due": FLAG,
    "points_valid": FLAG,
}
TEXT = {"status", "scoring", "assign_gp", "due_gp", "category_id", "state"}
DATES = {"assign_date", "due_date", "effective_date"}


@st.composite
def near_passing(draw, columns, passing):
    """The passing row with a few columns drawn at random (so many rows pass, or fail one rule)."""
    changed = draw(st.lists(st.sampled_from(sorted(columns)), max_size=2, unique=True))
    return {**passing, **{col: draw(columns[col]) for col in changed}}


@st.composite
def frames(draw, columns):
    passing = PASSING_SCORE if columns is SCORE_COLUMNS else PASSING_ASSESSMENT
    row = st.fixed_dictionaries(columns) | near_passing(columns, passing)
    rows = draw(st.lists(row, min_size=1, max_size=10))
    rows = rows + draw(st.lists(st.sampled_from(rows), max_size=5))  # repeated combinations
    frame = pd.DataFrame(rows, index=pd.Index(draw(st.permutations(range(100, 100 + len(rows))))))
    as_str = draw(st.booleans())
    for col in frame.columns:
        if col in DATES:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
        elif col in TEXT and as_str:
            frame[col] = frame[col].astype("str")
    return frame


def _check(frame: pd.DataFrame, suite: str, order) -> None:
    outcome = validate_frame(frame, suite, reason_order=order)
    reasons = outcome.reasons
    assert reasons.index.equals(frame.index)
    assert len(reasons) == len(frame)
    assert set(reasons.dropna()) <= set(order)
    assert sum(outcome.counts.values()) == int(reasons.notna().sum())
    has_na = frame.isna().any(axis=1)
    assert reasons[has_na].notna().all(), "a row with a missing value passed"
    per_row = validate_frame(frame, suite, reason_order=order, combine=False)
    pd.testing.assert_series_equal(reasons, per_row.reasons)


SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@SETTINGS
@given(frames(ASSESSMENT_COLUMNS))
def test_assessment_frames_with_na_and_odd_values(frame):
    _check(frame, "assessments", ASSESSMENT_REASONS)


@SETTINGS
@given(frames(SCORE_COLUMNS))
def test_score_frames_with_na_and_odd_values(frame):
    _check(frame, "scores", SCORE_REASONS)
