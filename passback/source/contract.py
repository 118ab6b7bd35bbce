"""The read contract of the Otus source: the frames' columns and dtypes, the SELECTs, and the
conversions both readers share (``passback.source.read``, the row path, and ``passback.source.arrow``,
the Arrow path).  Column dtypes: module doc of ``passback.source.read``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passback.domain.codes import SCORE_STATES

STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str" dtype
COLUMNS: dict[str, list[str]] = {
    "users": ["id", "sis_id", "role", "given_name", "family_name"],
    "classes": ["id", "sis_id", "title"],
    "enrollments": ["class_id", "user_id", "role"],
    "assessments": [
        "id",
        "district_id",
        "class_id",
        "assigned_by",
        "title",
        "assessment_type",
        "scoring",
        "points_possible",
        "include_in_final_grade",
        "assign_date",
        "due_date",
        "status",
        "updated_at",
    ],
    "scores": ["assessment_id", "student_id", "points_earned", "state", "excluded", "updated_at"],
    "group_members": ["user_id"],
}
NUMBERS = frozenset({"points_possible", "points_earned"})
FLAGS = frozenset({"include_in_final_grade", "excluded"})
DATES = frozenset({"assign_date", "due_date"})
TIMESTAMPS = frozenset({"updated_at"})
RAW = NUMBERS | FLAGS  # selected as stored; every other column is selected as text
# Known values of a column come out of SQLite as small integer codes (no string per row); others as text.
CODED: dict[str, tuple[str, ...]] = {"state": SCORE_STATES}
NS_MIN, NS_MAX = np.datetime64("1678-01-01", "us"), np.datetime64("2261-12-31", "us")


def queries(*, cast_text: bool, coded: bool = True, assessment_range: str = "") -> dict[str, str]:
    """One SELECT per frame; ``:d`` is the district id.  Scores and enrollments join their parents.

    ``cast_text`` (SQLite): text columns are CAST so a BLOB or a number arrives as text, and
    (``coded``) ``CODED`` columns come as integer codes.  ``assessment_range``: a condition on the
    assessments' ``id`` that limits the scores to those assessments (e.g. ``id >= :lo AND id < :hi``:
    the scores read in parts, ``passback.source.arrow``)."""

    def cols(names: list[str], prefix: str = "") -> str:
        if not cast_text:
            return ", ".join(f"{prefix}{c}" for c in names)
        return ", ".join(_select(c, prefix, coded) for c in names)

    c = COLUMNS
    return {
        "users": f"SELECT {cols(c['users'])} FROM otus_users WHERE district_id = :d",
        "classes": f"SELECT {cols(c['classes'])} FROM otus_classes WHERE district_id = :d",
        "enrollments": f"SELECT {cols(c['enrollments'], 'e.')} FROM otus_enrollments e "
        "WHERE e.class_id IN (SELECT id FROM otus_classes WHERE district_id = :d)",
        "assessments": f"SELECT {cols(c['assessments'])} FROM otus_assessments WHERE district_id = :d",
        "scores": f"SELECT {cols(c['scores'], 's.')} FROM otus_scores s "
        "WHERE s.assessment_id IN (SELECT id FROM otus_assessments WHERE district_id = :d"
        f"{' AND ' + assessment_range if assessment_range else ''})",
        "group_members": f"SELECT {cols(c['group_members'])} FROM otus_group_members WHERE district_id = :d",
    }


def _select(column: str, prefix: str, coded: bool = True) -> str:
    if column in RAW:
        return f"{prefix}{column}"
    as_text = f"CAST({prefix}{column} AS TEXT)"
    if coded and column in CODED:
        cases = " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(CODED[column]))
        return f"CASE {as_text} {cases} ELSE {as_text} END"
    return as_text


def to_ns(values: np.ndarray) -> np.ndarray:
    """datetime64 of any unit -> datetime64[ns], NaT where out of the ns range."""
    values = values.astype("datetime64[us]")
    return np.where((values >= NS_MIN) & (values <= NS_MAX), values, np.datetime64("NaT")).astype("datetime64[ns]")


def dates_of_text(strings: pa.Array) -> np.ndarray:
    """The first ten characters as YYYY-MM-DD, at midnight."""
    head = pc.utf8_slice_codeunits(strings, 0, 10)
    try:
        days = pc.cast(head, pa.date32()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        days = pd.to_datetime(pd.Series(head, dtype=STR), format="%Y-%m-%d", errors="coerce").to_numpy()
    return to_ns(days.astype("datetime64[D]"))


def timestamps_of_text(strings: pa.Array) -> np.ndarray:
    """ISO 8601 text -> naive datetime64[ns]; offsets are converted to UTC."""
    try:
        return to_ns(pc.cast(strings, pa.timestamp("us")).to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        series = pd.Series(strings, dtype=STR)
        try:
            parsed = pd.to_datetime(series, format="ISO8601", errors="coerce")
        except (ValueError, TypeError):  # mixed offsets / naive and aware: compare everything in UTC
            parsed = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return to_ns(parsed.to_numpy(dtype="datetime64[us]"))


def assemble(columns: list[str], pieces: dict[str, list[Any]]) -> pd.DataFrame:
    out: dict[str, Any] = {}
    for name in columns:
        parts = pieces[name]
        if name in FLAGS:
            out[name] = pd.array(
                pd.concat([pd.Series(p) for p in parts], ignore_index=True) if parts else [], dtype="boolean"
            )
        elif name in NUMBERS:
            out[name] = np.concatenate(parts) if parts else np.array([], dtype="float64")
        elif name in DATES | TIMESTAMPS:
            out[name] = np.concatenate(parts) if parts else np.array([], dtype="datetime64[ns]")
        else:
            out[name] = pd.Series(
                pa.chunked_array([p.cast(pa.large_string()) for p in parts], type=pa.large_string()), dtype=STR
            )
    return pd.DataFrame(out, columns=columns, copy=False)
