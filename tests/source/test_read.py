"""The source reader: the contract's tables in, frames out, never a crash on bad values."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine

from passback.domain.derive import normalise_assessments, normalise_scores
from passback.source.models import create_source_schema
from passback.source.read import read_district


def make_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    create_source_schema(create_engine(url))
    return url


def test_reads_one_district_only(tmp_path: Path) -> None:
    url = make_db(tmp_path / "otus.db")
    with sqlite3.connect(tmp_path / "otus.db") as conn:
        conn.executemany("INSERT INTO otus_assessments (id, district_id, class_id, title, points_possible) VALUES (?,?,?,?,?)",
                         [("a1", "d1", "c1", "Quiz", 10), ("a2", "d2", "c1", "Other", 10)])
        conn.executemany("INSERT INTO otus_scores (assessment_id, student_id, points_earned, state) VALUES (?,?,?,?)",
                         [("a1", "s1", 8.5, "graded"), ("a2", "s1", 3, "graded")])
        conn.execute("INSERT INTO otus_group_members VALUES ('d1', 'u1')")
    frames = read_district(url, "d1")
    assert frames.assessments["id"].tolist() == ["a1"]
    assert frames.scores["assessment_id"].tolist() == ["a1"]
    assert frames.group_members["user_id"].tolist() == ["u1"]


def test_bad_values_never_raise(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:  # a foreign tool's schema: no PKs, no types
        conn.execute("CREATE TABLE otus_assessments (id, district_id, class_id, assigned_by, title, assessment_type, scoring, "
                     "points_possible, include_in_final_grade, assign_date, due_date, status, updated_at, extra_col)")
        conn.execute("CREATE TABLE otus_scores (assessment_id, student_id, points_earned, state, excluded, updated_at)")
        for table, cols in (("otus_users", "id, district_id, sis_id, role, given_name, family_name"),
                            ("otus_classes", "id, district_id, sis_id, title"), ("otus_enrollments", "class_id, user_id, role"),
                            ("otus_group_members", "district_id, user_id")):
            conn.execute(f"CREATE TABLE {table} ({cols})")
        bad_title = b"Quiz \xff\xfe broken"
        rows = [
            ("a1", "d1", "c1", "u1", bad_title, "Quiz", "points", "abc", "yes", "2025-13-45", "not a date", "active", None, 1),
            ("a1", "d1", "c1", "u1", "dup", "Quiz", "points", "inf", 1, "2026-11-02", "2026-11-09", "active", "x", 2),
            (None, "d1", None, None, None, None, None, None, None, None, None, None, None, None),
        ]
        conn.executemany("INSERT INTO otus_assessments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO otus_scores VALUES (?,?,?,?,?,?)",
                         [("a1", "s1", "NaN", "graded", "maybe", "never"), ("a1", "s1", -3, None, None, None)])
    frames = read_district(f"sqlite:///{path}", "d1")
    assert len(frames.assessments) == 3 and len(frames.scores) == 2
    assert "\ufffd" in frames.assessments["title"].iloc[0]
    a = normalise_assessments(frames.assessments)
    s = normalise_scores(frames.scores)
    assert pd.isna(a["points_possible"].iloc[0]) and a["points_possible"].iloc[1] == float("inf")
    assert pd.isna(a["assign_date"].iloc[0]) and pd.isna(a["due_date"].iloc[0])
    assert s["points_earned"].isna().iloc[0] and s["points_earned"].iloc[1] == -3
