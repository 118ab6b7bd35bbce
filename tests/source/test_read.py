"""The source reader: the contract's tables in, frames out, never a crash on bad values."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from passback.domain.derive import normalise_assessments, normalise_scores
from passback.source import read as read_module
from passback.source.models import create_source_schema
from passback.source.read import COLUMNS, group_size, read_district


def make_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    create_source_schema(create_engine(url))
    return url


def test_reads_one_district_only(tmp_path: Path) -> None:
    url = make_db(tmp_path / "otus.db")
    with sqlite3.connect(tmp_path / "otus.db") as conn:
        conn.executemany(
            "INSERT INTO otus_assessments (id, district_id, class_id, title, points_possible) VALUES (?,?,?,?,?)",
            [("a1", "d1", "c1", "Quiz", 10), ("a2", "d2", "c1", "Other", 10)],
        )
        conn.executemany(
            "INSERT INTO otus_scores (assessment_id, student_id, points_earned, state) VALUES (?,?,?,?)",
            [("a1", "s1", 8.5, "graded"), ("a2", "s1", 3, "graded")],
        )
        conn.execute("INSERT INTO otus_group_members VALUES ('d1', 'u1')")
    frames = read_district(url, "d1")
    assert frames.assessments["id"].tolist() == ["a1"]
    assert frames.scores["assessment_id"].tolist() == ["a1"]
    assert frames.group_members["user_id"].tolist() == ["u1"]


def test_bad_values_never_raise(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:  # a foreign tool's schema: no PKs, no types
        conn.execute(
            "CREATE TABLE otus_assessments (id, district_id, class_id, assigned_by, title, assessment_type, scoring, "
            "points_possible, include_in_final_grade, assign_date, due_date, status, updated_at, extra_col)"
        )
        conn.execute("CREATE TABLE otus_scores (assessment_id, student_id, points_earned, state, excluded, updated_at)")
        for table, cols in (
            ("otus_users", "id, district_id, sis_id, role, given_name, family_name"),
            ("otus_classes", "id, district_id, sis_id, title"),
            ("otus_enrollments", "class_id, user_id, role"),
            ("otus_group_members", "district_id, user_id"),
        ):
            conn.execute(f"CREATE TABLE {table} ({cols})")
        bad_title = b"Quiz \xff\xfe broken"
        rows = [
            (
                "a1",
                "d1",
                "c1",
                "u1",
                bad_title,
                "Quiz",
                "points",
                "abc",
                "yes",
                "2025-13-45",
                "not a date",
                "active",
                None,
                1,
            ),
            ("a1", "d1", "c1", "u1", "dup", "Quiz", "points", "inf", 1, "2026-11-02", "2026-11-09", "active", "x", 2),
            (None, "d1", None, None, None, None, None, None, None, None, None, None, None, None),
        ]
        conn.executemany("INSERT INTO otus_assessments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany(
            "INSERT INTO otus_scores VALUES (?,?,?,?,?,?)",
            [("a1", "s1", "NaN", "graded", "maybe", "never"), ("a1", "s1", -3, None, None, None)],
        )
    frames = read_district(f"sqlite:///{path}", "d1")
    assert len(frames.assessments) == 3 and len(frames.scores) == 2
    assert "\ufffd" in frames.assessments["title"].iloc[0]
    a = normalise_assessments(frames.assessments)
    s = normalise_scores(frames.scores)
    assert pd.isna(a["points_possible"].iloc[0]) and a["points_possible"].iloc[1] == float("inf")
    assert pd.isna(a["assign_date"].iloc[0]) and pd.isna(a["due_date"].iloc[0])
    assert s["points_earned"].isna().iloc[0] and s["points_earned"].iloc[1] == -3


# -- the contract's dtypes and bad data -------------------------------------------------------------
TABLE_COLUMNS = {
    "otus_users": "id, district_id, sis_id, role, given_name, family_name",
    "otus_classes": "id, district_id, sis_id, title",
    "otus_enrollments": "class_id, user_id, role",
    "otus_assessments": "id, district_id, class_id, assigned_by, title, assessment_type, scoring, points_possible, "
    "include_in_final_grade, assign_date, due_date, status, updated_at",
    "otus_scores": "assessment_id, student_id, points_earned, state, excluded, updated_at",
    "otus_group_members": "district_id, user_id",
}
EXPECTED_DTYPES = {
    "points_possible": "float64",
    "points_earned": "float64",
    "include_in_final_grade": "boolean",
    "excluded": "boolean",
    "assign_date": "datetime64[ns]",
    "due_date": "datetime64[ns]",
    "updated_at": "datetime64[ns]",
}


def foreign_db(path: Path) -> sqlite3.Connection:
    """A database made by a foreign tool: no types, no primary keys, an extra column."""
    conn = sqlite3.connect(path)
    for table, cols in TABLE_COLUMNS.items():
        conn.execute(f"CREATE TABLE {table} ({cols}, extra_col)")
    return conn


def assert_contract_dtypes(frames: object) -> None:
    for name, columns in COLUMNS.items():
        frame = getattr(frames, name)
        assert list(frame.columns) == columns, name
        for col in columns:
            assert str(frame[col].dtype) == EXPECTED_DTYPES.get(col, "str"), (name, col, frame[col].dtype)


def test_bad_bytes_numbers_dates_and_enums_become_na(tmp_path: Path) -> None:
    conn = foreign_db(tmp_path / "bad.db")
    bad = b"Unit \xff\xfe quiz"
    conn.executemany(
        "INSERT INTO otus_assessments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                "a1",
                "d1",
                b"c\xff1",
                "u1",
                bad,
                "Quiz",
                "points",
                "abc",
                "maybe",
                "2025-13-45",
                "2025-02-30",
                "active",
                "never",
                "x",
            ),
            (
                "a2",
                "d1",
                "c1",
                7,
                "ok",
                "Exit Ticket",
                "weird",
                "NaN",
                "TRUE",
                "2026-11-02 00:00:00",
                "2026-11-09T08:00:00Z",
                "archived",
                "2026-11-10T12:00:00+02:00",
                None,
            ),
            (
                "a3",
                "d1",
                "c1",
                "u1",
                "t",
                "Quiz",
                "points",
                b"\x00\x01",
                2,
                "9999-12-31",
                "11/09/2026",
                None,
                "2026-11-10 12:00:00",
                None,
            ),
            ("a4", "d1", None, None, None, None, None, None, None, None, None, None, None, None),
            ("a1", "d1", "c1", "u1", "dup", "Quiz", "points", 10, 1, "2026-11-02", "2026-11-09", "active", None, None),
        ],
    )
    conn.executemany(
        "INSERT INTO otus_scores VALUES (?,?,?,?,?,?,?)",
        [
            ("a1", "s1", "inf", "graded", "no", "2026-11-10 12:00:00.5", None),
            ("a1", "s1", "-3", b"gr\xffaded", "yes", 12345, None),
            ("a2", "s2", None, None, None, None, None),
            ("a2", "s3", 8.5, 1, 1.0, "2026-11-10", None),
        ],
    )
    conn.execute("INSERT INTO otus_users VALUES ('u1', 'd1', ?, 'teacher', ?, NULL, NULL)", (b"sky\xff", "Zo\u00eb"))
    conn.execute("INSERT INTO otus_classes VALUES ('c1', 'd1', NULL, 'Math', NULL)")
    conn.execute("INSERT INTO otus_enrollments VALUES ('c1', 'u1', 'teacher', NULL), ('c1', 'u1', 'teacher', NULL)")
    conn.execute("INSERT INTO otus_group_members VALUES ('d1', 'u1', NULL), ('d1', 'u1', NULL)")
    conn.commit()
    conn.close()

    frames = read_district(f"sqlite:///{tmp_path / 'bad.db'}", "d1")
    assert_contract_dtypes(frames)
    a = frames.assessments
    assert a["id"].tolist() == ["a1", "a2", "a3", "a4", "a1"]  # duplicates are kept: the rules flag them
    assert a["title"][0] == "Unit \ufffd\ufffd quiz" and a["class_id"][0] == "c\ufffd1"
    assert a["assigned_by"][1] == "7" and a["assessment_type"][1] == "Exit Ticket" and a["status"][1] == "archived"
    assert np.isnan(a["points_possible"][:4]).tolist() == [True, True, True, True] and a["points_possible"][4] == 10
    assert a["include_in_final_grade"].tolist() == [pd.NA, True, pd.NA, pd.NA, True]
    assert a["assign_date"].isna().tolist() == [True, False, True, True, False]  # 2025-13-45; 9999 is out of range
    assert a["assign_date"][1] == pd.Timestamp("2026-11-02")
    assert a["due_date"].isna().tolist() == [True, False, True, True, False]  # 2025-02-30 and 11/09/2026 are not dates
    assert a["due_date"][1] == pd.Timestamp("2026-11-09")  # the date part, at midnight
    assert pd.isna(a["updated_at"][0]) and a["updated_at"][1] == pd.Timestamp("2026-11-10 10:00")  # offsets -> UTC
    s = frames.scores
    assert s["points_earned"][0] == np.inf and s["points_earned"][1] == -3 and np.isnan(s["points_earned"][2])
    assert s["state"].tolist()[:2] == ["graded", "gr\ufffdaded"] and pd.isna(s["state"][2]) and s["state"][3] == "1"
    assert s["excluded"].tolist() == [False, True, pd.NA, True]
    assert s["updated_at"][0] == pd.Timestamp("2026-11-10 12:00:00.5")
    assert frames.users["sis_id"][0] == "sky\ufffd" and frames.users["given_name"][0] == "Zoë"
    assert len(frames.enrollments) == 2 and len(frames.group_members) == 2


def test_flag_spellings() -> None:
    values = [1, 0, 1.0, "1", "0", "true", "False", " yes ", "N", "t", "f", "maybe", 2, None, b"1"]
    flags = read_module._flags(values)
    assert list(flags) == [
        True,
        False,
        True,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        pd.NA,
        pd.NA,
        pd.NA,
        True,
    ]


def test_an_engine_and_a_url_read_the_same(tmp_path: Path) -> None:
    from passback.source.generate import generate
    from passback.source.write import write_world

    world = generate("demo", seed=3, today=dt.date(2026, 11, 18))
    url = f"sqlite:///{tmp_path / 'otus.db'}"
    write_world(world, url, tmp_path / "scenario.json")
    by_url = read_district(url, "demo")
    engine = create_engine(url)
    by_engine = read_district(engine, "demo")
    engine.dispose()
    for name in COLUMNS:
        pd.testing.assert_frame_equal(getattr(by_url, name), getattr(by_engine, name), check_like=False)
    assert_contract_dtypes(by_url)


def test_small_chunks_assemble_the_same_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from passback.source.generate import generate
    from passback.source.write import write_world

    world = generate("demo", seed=5, today=dt.date(2026, 11, 18))
    url = f"sqlite:///{tmp_path / 'otus.db'}"
    write_world(world, url, tmp_path / "scenario.json")
    whole = read_district(url, "demo")
    monkeypatch.setattr(read_module, "CHUNK_ROWS", 7)
    chunked = read_district(url, "demo")
    for name in COLUMNS:
        pd.testing.assert_frame_equal(getattr(whole, name), getattr(chunked, name))


def test_an_empty_district_gives_empty_typed_frames(tmp_path: Path) -> None:
    url = make_db(tmp_path / "otus.db")
    frames = read_district(url, "nobody")
    assert all(n == 0 for n in frames.counts().values())
    assert_contract_dtypes(frames)


def test_a_missing_database_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="passback seed"):
        read_district(f"sqlite:///{tmp_path / 'nope.db'}", "d1")


def test_group_size_counts_one_district(tmp_path: Path) -> None:
    url = make_db(tmp_path / "otus.db")
    with sqlite3.connect(tmp_path / "otus.db") as conn:
        conn.executemany("INSERT INTO otus_group_members VALUES (?, ?)", [("d1", "u1"), ("d1", "u2"), ("d2", "u1")])
    assert group_size(url, "d1") == 2 and group_size(url, "d3") == 0


JUNK = st.one_of(
    st.none(),
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.sampled_from(
        [
            "inf",
            "NaN",
            "-0",
            "2026-11-02",
            "2025-13-45",
            "0001-01-01",
            "1",
            "true",
            "2026-11-10T12:00:00+05:30",
            "graded",
            "\ud800".encode("utf-8", "surrogatepass"),
        ]
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(*[JUNK] * 13), min_size=1, max_size=6), scores=st.lists(st.tuples(*[JUNK] * 4), max_size=6)
)
def test_any_junk_reads_without_raising(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple], scores: list[tuple]
) -> None:
    path = tmp_path_factory.mktemp("junk") / "junk.db"
    conn = foreign_db(path)
    conn.executemany(
        "INSERT INTO otus_assessments VALUES ('a', 'd1', ?,?,?,?,?,?,?,?,?,?,?, ?)", [r[:11] + (r[12],) for r in rows]
    )
    conn.executemany("INSERT INTO otus_scores VALUES ('a', ?,?,?,?, '2026-01-01', NULL)", scores)
    conn.commit()
    conn.close()
    frames = read_district(f"sqlite:///{path}", "d1")
    assert len(frames.assessments) == len(rows) and len(frames.scores) == len(scores)
    assert_contract_dtypes(frames)


def test_an_in_memory_engine_tolerates_bad_bytes_too() -> None:
    from sqlalchemy.pool import StaticPool

    engine = create_engine("sqlite://", poolclass=StaticPool)
    create_source_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO otus_assessments (id, district_id, class_id, title, points_possible) "
            "VALUES ('a1', 'd1', 'c1', ?, 'abc')",
            (b"Quiz \xff",),
        )
    frames = read_district(engine, "d1")
    assert frames.assessments["title"][0] == "Quiz \ufffd" and np.isnan(frames.assessments["points_possible"][0])
