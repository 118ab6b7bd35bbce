"""Planting rule-violating rows into a clean synthetic district (vectorised, seeded).

Each planted assessment row breaks exactly one rule, so its expected reason code is the kind it was
planted as (``ASSESSMENT_KINDS`` are reason codes of ``passback.domain.codes``).  Rows that are
clean stay clean: dates in the open grading period on/after the effective date, a mapped active
category, a whole number of points, an assigner in the SIS and in the passback group.
"""

from __future__ import annotations

import numpy as np

from passback.source.presets import LONG_TITLES, RETIRED_TYPE, UNMAPPED_TYPES, Calendar

# kind (= the reason code it produces) -> relative weight among the planted assessment rows
ASSESSMENT_KINDS: dict[str, float] = {
    "assessment_deleted": 2.0,
    "not_points_based": 4.0,
    "points_not_whole": 1.0,
    "title_missing": 0.5,
    "title_too_long": 1.0,
    "not_in_final_grade": 2.0,
    "class_not_in_sis": 1.0,
    "assigner_not_in_sis": 1.0,
    "assigner_not_in_group": 2.0,
    "missing_dates": 0.5,
    "due_before_assign": 0.5,
    "before_effective_date": 0.5,
    "outside_grading_periods": 0.5,
    "straddles_grading_periods": 1.0,
    "grading_period_closed": 4.0,
    "category_unmapped": 0.5,
    "category_not_in_sis": 0.5,
}

# Shares of the score rows (of clean assessments) per unit of violation rate.
EXCLUDED_SHARE = 0.2  # violation_rate 0.05 -> 1 % of scores excluded
INVALID_SHARE = 0.05  # graded but points missing or negative
NO_SIS_STUDENT_SHARE = 0.1  # share of students without a SIS id


def kind_counts(rng: np.random.Generator, n_rows: int, rate: float, cover_all: bool) -> dict[str, int]:
    """How many assessment rows to plant per kind."""
    if rate <= 0:
        return dict.fromkeys(ASSESSMENT_KINDS, 0)
    weights = np.array(list(ASSESSMENT_KINDS.values()))
    counts = rng.multinomial(round(rate * n_rows), weights / weights.sum())
    if cover_all:
        counts = np.maximum(counts, 1)
    return dict(zip(ASSESSMENT_KINDS, (int(c) for c in counts), strict=True))


def _days(n: np.ndarray | int) -> np.ndarray:
    return np.asarray(n).astype("timedelta64[D]")


def _date(d: object) -> np.datetime64:
    return np.datetime64(d, "D")  # type: ignore[call-overload]


def plant_assessments(
    a: dict[str, np.ndarray],
    rows: dict[str, np.ndarray],
    *,
    rng: np.random.Generator,
    cal: Calendar,
    otus_only_classes: np.ndarray,
    otus_only_teacher: np.ndarray,
    admins: np.ndarray,
    outsiders: np.ndarray,
) -> None:
    """Mutate the column arrays ``a`` in place at the planted rows.

    ``a`` holds positional ``class_idx`` / ``assigner_idx`` (ids are resolved later), dates as
    ``datetime64[D]``, ``include_in_final_grade`` as float 1/0/NaN and text as object arrays."""

    def pick(choices: tuple | np.ndarray, n: int) -> np.ndarray:
        return np.asarray(choices, dtype=object)[rng.integers(0, len(choices), n)]

    def setcol(col: str, idx: np.ndarray, values: object) -> None:
        a[col][idx] = values

    cur, year_start, year_end = cal.cur, _date(cal.year_start), _date(cal.year_end)
    prev = cal.quarters[cal.current - 1]
    for kind, idx in rows.items():
        n = len(idx)
        if n == 0:
            continue
        if kind == "assessment_deleted":
            setcol("status", idx, "deleted")
        elif kind == "not_points_based":
            setcol("scoring", idx, pick(("standards", "rubric"), n))
            setcol("points_possible", idx, np.where(rng.random(n) < 0.5, np.nan, 4.0))
        elif kind == "points_not_whole":
            setcol("points_possible", idx, np.asarray((10.5, np.nan, 0.0, -5.0, 7.25))[rng.integers(0, 5, n)])
        elif kind == "title_missing":
            setcol("title", idx, pick(("", "   ", None), n))
        elif kind == "title_too_long":
            setcol("title", idx, pick(LONG_TITLES, n))
        elif kind == "not_in_final_grade":
            setcol("include_in_final_grade", idx, np.where(rng.random(n) < 0.8, 0.0, np.nan))
        elif kind == "class_not_in_sis":
            which = rng.integers(0, len(otus_only_classes), n)
            setcol("class_idx", idx, otus_only_classes[which])
            setcol("assigner_idx", idx, otus_only_teacher[which])
        elif kind == "assigner_not_in_sis":
            setcol("assigner_idx", idx, admins[rng.integers(0, len(admins), n)])
        elif kind == "assigner_not_in_group":
            setcol("assigner_idx", idx, outsiders[rng.integers(0, len(outsiders), n)])
        elif kind == "missing_dates":
            which = rng.integers(0, 3, n)
            a["assign_date"][idx[which != 1]] = np.datetime64("NaT")
            a["due_date"][idx[which != 0]] = np.datetime64("NaT")
        elif kind == "due_before_assign":
            assign = _date(cur.start) + _days(rng.integers(10, 41, n))
            setcol("assign_date", idx, assign)
            setcol("due_date", idx, assign - _days(rng.integers(1, 6, n)))
        elif kind == "before_effective_date":
            assign = year_start - _days(rng.integers(1, 21, n))
            setcol("assign_date", idx, assign)
            setcol("due_date", idx, assign + _days(rng.integers(0, 6, n)))
        elif kind == "outside_grading_periods":
            in_gap = rng.random(n) < 0.5  # the weekend between two quarters, or the summer after the year
            summer = year_end + _days(rng.integers(5, 21, n))
            assign = np.where(in_gap, _date(cur.start) - _days(2), summer)
            setcol("assign_date", idx, assign)
            setcol(
                "due_date", idx, np.where(in_gap, _date(cur.start) - _days(1), summer + _days(rng.integers(0, 6, n)))
            )
        elif kind == "straddles_grading_periods":
            setcol("assign_date", idx, _date(prev.end) - _days(rng.integers(0, 4, n)))
            setcol("due_date", idx, _date(cur.start) + _days(rng.integers(0, 5, n)))
        elif kind == "grading_period_closed":
            closed = [q for q in cal.quarters if q.closed]
            q = rng.integers(0, len(closed), n)
            starts = np.array([_date(c.start) for c in closed])[q]
            ends = np.array([_date(c.end) for c in closed])[q]
            assign = starts + _days(rng.integers(0, 51, n))
            setcol("assign_date", idx, assign)
            setcol("due_date", idx, np.minimum(assign + _days(rng.integers(0, 8, n)), ends))
        elif kind == "category_unmapped":
            setcol("assessment_type", idx, pick(UNMAPPED_TYPES, n))
        elif kind == "category_not_in_sis":
            setcol("assessment_type", idx, RETIRED_TYPE)
        else:  # pragma: no cover - ASSESSMENT_KINDS and this function change together
            raise ValueError(f"unknown violation kind {kind!r}")
