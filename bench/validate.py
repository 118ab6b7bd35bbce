"""Measure ``validate_frame`` at scale (not a test):  ``python bench/validate.py``.

- scores: 5M rows, few distinct combinations (the nightly score frame of a large district);
- assessments: 200k rows, many distinct combinations (dates, titles, points vary).
Prints rows, combinations and seconds (first call includes importing GX and loading the suite).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from passback.domain.codes import ASSESSMENT_REASONS, SCORE_REASONS


def score_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    states = np.array(["graded", "turned_in", "not_submitted", None], dtype=object)
    return pd.DataFrame(
        {
            "assessment_id": pd.array(rng.integers(0, 200_000, rows).astype(str), dtype="str"),
            "student_id": pd.array(rng.integers(0, 60_000, rows).astype(str), dtype="str"),
            "state": pd.array(states[rng.choice(4, rows, p=[0.8, 0.08, 0.1199, 0.0001])], dtype="str"),
            "points_earned": rng.uniform(0, 10, rows),
            "excluded": rng.random(rows) < 0.01,
            "is_duplicate": rng.random(rows) < 0.001,
            "assessment_known": rng.random(rows) > 0.0005,
            "student_in_sis": rng.random(rows) > 0.002,
            "past_due": rng.random(rows) < 0.7,
            "points_valid": rng.random(rows) > 0.001,
        }
    )


def assessment_frame(rows: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    day0 = np.datetime64("2025-08-15", "ns")
    assign = day0 + rng.integers(0, 300, rows).astype("timedelta64[D]")
    due = assign + rng.integers(-2, 30, rows).astype("timedelta64[D]")
    assign = np.where(rng.random(rows) < 0.01, np.datetime64("NaT"), assign)
    periods = np.array(["gp1", "gp2", "gp3", "gp4"], dtype=object)
    quarter = lambda d: np.clip(((d - day0).astype("timedelta64[D]").astype("int64")) // 75, 0, 3)  # noqa: E731
    assign_gp = np.where(np.isnat(assign), None, periods[quarter(np.where(np.isnat(assign), day0, assign))])
    due_gp = periods[quarter(due)]
    points = rng.choice(np.array([5, 10, 20, 25, 50, 100, 10.5, np.nan, 0, -1]), rows)
    cats = np.array([f"cat{i}" for i in range(10)] + [None], dtype=object)
    return pd.DataFrame(
        {
            "id": pd.array(np.arange(rows).astype(str), dtype="str"),
            "status": pd.array(np.where(rng.random(rows) < 0.03, "deleted", "active"), dtype="str"),
            "scoring": pd.array(
                rng.choice(np.array(["points", "standards", "rubric"]), rows, p=[0.9, 0.07, 0.03]), dtype="str"
            ),
            "points_possible": points,
            "points_is_whole": np.isfinite(points) & (points > 0) & (np.floor(points) == points),
            "title_length": rng.integers(0, 80, rows),
            "include_in_final_grade": rng.random(rows) < 0.95,
            "class_in_sis": rng.random(rows) < 0.99,
            "assigner_in_sis": rng.random(rows) < 0.98,
            "assigner_in_group": rng.random(rows) < 0.9,
            "assign_date": assign,
            "due_date": due,
            "effective_date": np.datetime64("2025-09-01", "ns"),
            "assign_gp": pd.array(assign_gp, dtype="str"),
            "due_gp": pd.array(due_gp, dtype="str"),
            "gp_open": rng.random(rows) < 0.9,
            "category_id": pd.array(cats[rng.integers(0, 11, rows)], dtype="str"),
            "category_active": rng.random(rows) < 0.95,
            "has_sendable_score": rng.random(rows) < 0.8,
            "is_duplicate": rng.random(rows) < 0.001,
        }
    )


def main() -> None:
    from passback.quality import validate_frame

    parser = argparse.ArgumentParser()
    parser.add_argument("--score-rows", type=int, default=5_000_000)
    parser.add_argument("--assessment-rows", type=int, default=200_000)
    args = parser.parse_args()

    warm = time.perf_counter()
    validate_frame(score_frame(1000), "scores", reason_order=SCORE_REASONS)
    validate_frame(assessment_frame(1000), "assessments", reason_order=ASSESSMENT_REASONS)
    print(f"warm-up (import GX, load suites, first validations): {time.perf_counter() - warm:.2f} s")

    for label, frame, suite, order in (
        ("scores", score_frame(args.score_rows), "scores", SCORE_REASONS),
        ("assessments", assessment_frame(args.assessment_rows), "assessments", ASSESSMENT_REASONS),
    ):
        started = time.perf_counter()
        outcome = validate_frame(frame, suite, reason_order=order)
        total = time.perf_counter() - started
        print(
            f"{label}: {len(frame):,} rows, {outcome.combinations:,} combinations, {total:.2f} s;"
            f" blocked {int(outcome.reasons.notna().sum()):,}; top reasons "
            f"{dict(sorted(outcome.counts.items(), key=lambda kv: -kv[1])[:3])}"
        )


if __name__ == "__main__":
    main()
