"""Hand-built derived frames (docs/DESIGN.md 'Derived columns') for the quality tests (fixtures: conftest.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd

DATE_COLUMNS = ("assign_date", "due_date", "effective_date")
TEXT_COLUMNS = ("status", "scoring", "assign_gp", "due_gp", "category_id", "state")

PASSING_ASSESSMENT: dict[str, Any] = {
    "is_duplicate": False,
    "status": "active",
    "scoring": "points",
    "points_possible": 10.0,
    "points_is_whole": True,
    "title_length": 12,
    "include_in_final_grade": True,
    "class_in_sis": True,
    "assigner_in_sis": True,
    "assigner_in_group": True,
    "assign_date": pd.Timestamp("2025-09-10"),
    "due_date": pd.Timestamp("2025-09-12"),
    "effective_date": pd.Timestamp("2025-09-01"),
    "assign_gp": "gp-1",
    "due_gp": "gp-1",
    "gp_open": True,
    "category_id": "cat-homework",
    "category_active": True,
    "has_sendable_score": True,
}

PASSING_SCORE: dict[str, Any] = {
    "is_duplicate": False,
    "assessment_known": True,
    "excluded": False,
    "student_in_sis": True,
    "state": "graded",
    "past_due": False,
    "points_valid": True,
}


def derived_frame(rows: list[dict[str, Any]], index: list[Any] | None = None) -> pd.DataFrame:
    """A frame typed like passback.domain.derive's output: str text, datetime64[ns] dates."""
    frame = pd.DataFrame(rows, index=index)
    for col in frame.columns:
        if col in DATE_COLUMNS:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
        elif col in TEXT_COLUMNS:
            frame[col] = frame[col].astype("str")
    return frame
