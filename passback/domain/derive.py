"""Derived columns, computed before validation so that every passback rule is a plain expectation.

Pure pandas, vectorised: no per-row Python.  See docs/DESIGN.md ("Derived columns") for the
contract with the GX suites in ``expectations/``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passback.domain.columns import (
    arrow_text,
    categorical_take,
    codes,
    later_duplicates,
    one_array,
    pair_keys,
    positions,
    take_text,
)
from passback.domain.context import DistrictContext

ASSESSMENT_SOURCE_COLUMNS = [
    "id",
    "class_id",
    "assigned_by",
    "title",
    "assessment_type",
    "scoring",
    "status",
    "points_possible",
    "include_in_final_grade",
    "assign_date",
    "due_date",
]
SCORE_SOURCE_COLUMNS = ["assessment_id", "student_id", "state", "points_earned", "excluded", "updated_at"]


def _text(series: pd.Series) -> pd.Series:
    return series.astype("str")


def _dates(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series
    else:
        out = pd.to_datetime(series.astype("str"), errors="coerce", format="ISO8601")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[ns]").dt.normalize()


def _floats(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _flags(series: pd.Series) -> pd.Series:
    """Nullable/any-typed truthiness -> plain bool, NA and unknown text -> False."""
    if series.dtype == bool:
        return series
    if pd.api.types.is_bool_dtype(series):  # nullable boolean (the reader's): NA -> False, no text round trip
        return series.fillna(False).astype(bool)
    as_text = series.astype("str").str.strip().str.lower()
    return as_text.isin(["true", "1", "1.0", "t", "yes", "y"]).fillna(False).astype(bool)


def _lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """keys.map(table) (the first of duplicated table keys wins; NA matches NA), through Arrow."""
    return take_text(table.astype("str"), positions(keys, table.index), keys.index)


def sis_ids(frame: pd.DataFrame) -> pd.Series:
    """id -> sis_id (blank ids count as missing)."""
    sis = frame["sis_id"].astype("str").str.strip()
    sis = sis.where(sis.str.len() > 0)
    return pd.Series(sis.to_numpy(), index=frame["id"].astype("str"), dtype="str")


def grading_period_of(dates: pd.Series, periods: pd.DataFrame) -> pd.Series:
    """The sourcedId of the grading period containing each date (first and last day included)."""
    if periods.empty:
        return pd.Series(pd.NA, index=dates.index, dtype="str")
    starts = periods["start_date"].to_numpy(dtype="datetime64[ns]")
    ends = periods["end_date"].to_numpy(dtype="datetime64[ns]")
    values = dates.to_numpy(dtype="datetime64[ns]")
    pos = np.searchsorted(starts, values, side="right") - 1
    safe = np.clip(pos, 0, None)
    inside = (pos >= 0) & ~np.isnat(values) & (values <= ends[safe])
    ids = periods["sourced_id"].to_numpy(dtype=object)[safe]
    return pd.Series(np.where(inside, ids, None), index=dates.index, dtype="str")


def normalise_assessments(raw: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(index=raw.index)
    for col in ("id", "class_id", "assigned_by", "title", "assessment_type", "scoring", "status"):
        frame[col] = _text(raw[col]) if col in raw else pd.Series(pd.NA, index=raw.index, dtype="str")
    frame["points_possible"] = _floats(raw["points_possible"])
    frame["include_in_final_grade"] = _flags(raw["include_in_final_grade"])
    frame["assign_date"] = _dates(raw["assign_date"])
    frame["due_date"] = _dates(raw["due_date"])
    return frame


def normalise_scores(raw: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(index=raw.index)
    for col in ("assessment_id", "student_id", "state"):
        frame[col] = _text(raw[col])
    frame["points_earned"] = _floats(raw["points_earned"])
    frame["excluded"] = _flags(raw["excluded"])
    frame["updated_at"] = _dates(raw["updated_at"]) if "updated_at" in raw else pd.NaT
    return frame


def derive_assessments(
    raw: pd.DataFrame,
    *,
    users: pd.DataFrame,
    classes: pd.DataFrame,
    group_members: pd.Series,
    context: DistrictContext,
) -> pd.DataFrame:
    """Source assessments + the derived columns the assessment suite validates."""
    frame = normalise_assessments(raw)
    frame["is_duplicate"] = frame["id"].isna() | frame["id"].duplicated(keep="first")
    frame["title_length"] = frame["title"].str.strip().str.len().fillna(0).astype("int64")
    points = frame["points_possible"].to_numpy()
    with np.errstate(invalid="ignore"):
        frame["points_is_whole"] = np.isfinite(points) & (points > 0) & (np.floor(points) == points)
    class_sis = _lookup(frame["class_id"], sis_ids(classes))
    assigner_sis = _lookup(frame["assigned_by"], sis_ids(users))
    frame["class_sis_id"] = class_sis
    frame["class_in_sis"] = class_sis.notna().to_numpy()
    frame["assigner_in_sis"] = assigner_sis.notna().to_numpy()
    members = pd.Index(group_members.astype("str").dropna().unique())
    frame["assigner_in_group"] = frame["assigned_by"].isin(members).fillna(False).astype(bool)
    frame["effective_date"] = pd.Timestamp(context.effective_date)
    frame["effective_date"] = frame["effective_date"].astype("datetime64[ns]")
    frame["assign_gp"] = grading_period_of(frame["assign_date"], context.grading_periods)
    frame["due_gp"] = grading_period_of(frame["due_date"], context.grading_periods)
    closed = list(context.closed_periods)
    frame["gp_open"] = ~(frame["assign_gp"].isin(closed) | frame["due_gp"].isin(closed)).fillna(False).astype(bool)
    mapping = pd.Series(dict(context.mapping), dtype="str")
    frame["category_id"] = _lookup(frame["assessment_type"], mapping)
    frame["category_active"] = frame["category_id"].isin(list(context.active_categories)).fillna(False).astype(bool)
    frame["has_sendable_score"] = False  # filled in by mark_sendable() once scores are validated
    return frame


def derive_scores(
    raw: pd.DataFrame,
    *,
    assessments: pd.DataFrame,
    users: pd.DataFrame,
    context: DistrictContext,
) -> pd.DataFrame:
    """Source scores + the derived columns the score suite validates.

    ``assessments`` is the derived assessment frame (for due dates and existence).
    """
    frame = normalise_scores(raw)
    a_codes, _ = codes(frame["assessment_id"])  # NA is a value of its own: NA == NA, as duplicated() has it
    s_codes, s_values = codes(frame["student_id"])
    frame["is_duplicate"] = later_duplicates(pair_keys(a_codes, s_codes, len(s_values)))
    del a_codes, s_codes
    firsts = assessments[~assessments["is_duplicate"]]
    parent = positions(frame["assessment_id"], firsts["id"])
    frame["assessment_known"] = parent >= 0
    sis = sis_ids(users)  # a student's sis_id as a category: a code per score row, not a string
    student_sis = categorical_take(
        pd.Series(sis.to_numpy(), dtype="str"), positions(frame["student_id"], sis.index), frame.index
    )
    frame["student_sis_id"] = student_sis
    frame["student_in_sis"] = student_sis.notna().to_numpy()
    due = firsts["due_date"].to_numpy(dtype="datetime64[ns]")
    score_due = np.where(
        parent >= 0, due[np.clip(parent, 0, None)] if len(due) else np.datetime64("NaT"), np.datetime64("NaT")
    )
    deadline = pd.Timestamp(context.now_local) - pd.Timedelta(days=1) - pd.Timedelta(hours=context.grace_hours)
    frame["past_due"] = ~np.isnat(score_due) & (score_due <= deadline.to_datetime64())
    points = frame["points_earned"].to_numpy()
    with np.errstate(invalid="ignore"):
        frame["points_valid"] = np.isfinite(points) & (points >= 0)
    return frame


def mark_sendable(assessments: pd.DataFrame, scores: pd.DataFrame, score_passes: pd.Series) -> None:
    """Set ``has_sendable_score``: at least one of the assessment's scores passes the score rules."""
    passing = arrow_text(scores["assessment_id"]).filter(pa.array(score_passes.to_numpy(dtype=bool)))
    passing_ids = pc.drop_null(one_array(pc.unique(passing)))
    found = pc.is_in(arrow_text(assessments["id"]), value_set=passing_ids)
    assessments["has_sendable_score"] = found.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
