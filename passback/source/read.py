"""Reading one district's Otus source into frames.

Robust to what a foreign database may hold: bytes that are not UTF-8, text in numeric columns,
malformed dates, NULLs anywhere, duplicate rows.  Nothing here raises on bad values: they become
NA and the rules classify them.  Types are normalised by ``passback.domain.derive``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

COLUMNS: dict[str, list[str]] = {
    "users": ["id", "sis_id", "role", "given_name", "family_name"],
    "classes": ["id", "sis_id", "title"],
    "enrollments": ["class_id", "user_id", "role"],
    "assessments": ["id", "district_id", "class_id", "assigned_by", "title", "assessment_type", "scoring",
                    "points_possible", "include_in_final_grade", "assign_date", "due_date", "status", "updated_at"],
    "scores": ["assessment_id", "student_id", "points_earned", "state", "excluded", "updated_at"],
    "group_members": ["user_id"],
}


NON_TEXT = {"points_possible", "points_earned", "include_in_final_grade", "excluded"}


def _select(columns: list[str], prefix: str = "") -> str:
    """Text columns are CAST so that a BLOB of bytes arrives as (replaced-if-invalid) text."""
    return ", ".join(f"{prefix}{c}" if c in NON_TEXT else f"CAST({prefix}{c} AS TEXT)" for c in columns)


def _queries() -> dict[str, str]:
    c = COLUMNS
    return {
        "users": f"SELECT {_select(c['users'])} FROM otus_users WHERE district_id = :d",
        "classes": f"SELECT {_select(c['classes'])} FROM otus_classes WHERE district_id = :d",
        "enrollments": f"SELECT {_select(c['enrollments'], 'e.')} FROM otus_enrollments e "
                       "JOIN otus_classes k ON k.id = e.class_id WHERE k.district_id = :d",
        "assessments": f"SELECT {_select(c['assessments'])} FROM otus_assessments WHERE district_id = :d",
        "scores": f"SELECT {_select(c['scores'], 's.')} FROM otus_scores s "
                  "JOIN (SELECT DISTINCT id FROM otus_assessments WHERE district_id = :d) a ON a.id = s.assessment_id",
        "group_members": f"SELECT {_select(c['group_members'])} FROM otus_group_members WHERE district_id = :d",
    }


@dataclass
class SourceFrames:
    users: pd.DataFrame
    classes: pd.DataFrame
    enrollments: pd.DataFrame
    assessments: pd.DataFrame
    scores: pd.DataFrame
    group_members: pd.DataFrame

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in COLUMNS}


def _sqlite_path(url: str) -> str | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return path if path and path != ":memory:" else None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for col in columns:
        if frame[col].dtype == object and col not in NON_TEXT:
            frame[col] = frame[col].astype("str")
    return frame


def read_district(url_or_engine: str | Engine, district_id: str) -> SourceFrames:
    """All six source tables of one district as frames (see ``COLUMNS``)."""
    queries = _queries()
    path = _sqlite_path(url_or_engine) if isinstance(url_or_engine, str) else None
    if path is not None:
        if not Path(path).exists():
            raise FileNotFoundError(f"the Otus source database {path} does not exist; create it with `passback seed` or set PASSBACK_SOURCE_URL")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.text_factory = _decode
        try:
            frames = {name: _frame(conn.execute(sql.replace(":d", "?"), (district_id,)).fetchall(), COLUMNS[name])
                      for name, sql in queries.items()}
        finally:
            conn.close()
    else:
        engine = url_or_engine if isinstance(url_or_engine, Engine) else create_engine(url_or_engine)
        with engine.connect() as conn:
            frames = {name: _frame(conn.execute(text(sql), {"d": district_id}).fetchall(), COLUMNS[name])
                      for name, sql in queries.items()}
    return SourceFrames(**frames)


def group_size(url: str, district_id: str) -> int:
    path = _sqlite_path(url)
    if path is not None:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM otus_group_members WHERE district_id = ?", (district_id,)).fetchone()[0])
    with create_engine(url).connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM otus_group_members WHERE district_id = :d"), {"d": district_id}).scalar_one())
