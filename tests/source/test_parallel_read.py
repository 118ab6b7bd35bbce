"""The source read on two threads (issue 16: the second core) returns exactly the rows, in the
order, of one read on one connection: the scores of a SQLite source in ranges of assessment ids,
the other tables at the same time — and the scores are read whole when the query plan would not
keep their order (a foreign schema without the primary key)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from passback.source import arrow, contract
from passback.source.generate import generate
from passback.source.read import read_district
from passback.source.write import write_world


def one_connection_read(path: Path, district_id: str) -> dict[str, pd.DataFrame]:
    """Every table by one query on one connection, one after another (the read before threads)."""
    conn = arrow.sqlite_connection(str(path))
    try:
        return {
            name: arrow.read_table(conn, sql.replace(":d", "?"), (district_id,), contract.COLUMNS[name], sqlite=True)
            for name, sql in contract.queries(cast_text=True, coded=False).items()
        }
    finally:
        conn.close()


@pytest.fixture(scope="module")
def s_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    world = generate("S", seed=5, today=dt.date(2026, 11, 18))
    path = tmp_path_factory.mktemp("s") / "otus.db"
    write_world(world, f"sqlite:///{path}", path.parent / "scenario.json")
    return path, world.seeds[0].district_id


def test_the_threaded_read_is_the_one_connection_read_row_for_row(s_world: tuple[Path, str]) -> None:
    path, district = s_world
    conn = arrow.sqlite_connection(str(path))
    try:
        ranges = arrow._score_ranges(conn, district)
    finally:
        conn.close()
    assert ranges is not None and len(ranges) == arrow.SCORE_PARTS  # the scores really are read in parts
    expected = one_connection_read(path, district)
    got = arrow.read_tables(lambda: arrow.sqlite_connection(str(path)), district, sqlite=True)
    assert set(got) == set(expected)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True)
    assert len(got["scores"]) > 10_000


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_any_number_of_parts_reads_the_same_scores(
    s_world: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    path, district = s_world
    monkeypatch.setattr(arrow, "SCORE_PARTS", parts)
    expected = one_connection_read(path, district)["scores"]
    got = read_district(f"sqlite:///{path}", district).scores
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_without_the_primary_key_the_scores_are_read_whole(tmp_path: Path, s_world: tuple[Path, str]) -> None:
    """A foreign schema (no key on the scores, rows in insertion order, duplicates): the plan scans
    the scores, parts would interleave differently, so the scores are read by one query."""
    source, district = s_world
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:
        conn.execute("ATTACH DATABASE ? AS s", (str(source),))
        for table in ("otus_users", "otus_classes", "otus_enrollments", "otus_assessments", "otus_group_members"):
            conn.execute(f"CREATE TABLE {table} AS SELECT * FROM s.{table}")
        conn.execute("CREATE TABLE otus_scores (assessment_id, student_id, points_earned, state, excluded, updated_at)")
        conn.execute(  # descending: an order no range of assessment ids reproduces
            "INSERT INTO otus_scores SELECT assessment_id, student_id, points_earned, state, excluded, updated_at "
            "FROM s.otus_scores ORDER BY assessment_id DESC, student_id"
        )
        conn.execute("INSERT INTO otus_scores SELECT * FROM otus_scores WHERE rowid % 97 = 0")  # duplicate rows
        conn.commit()
        conn.execute("DETACH DATABASE s")
    conn = arrow.sqlite_connection(str(path))
    try:
        assert arrow._score_ranges(conn, district) is None
    finally:
        conn.close()
    expected = one_connection_read(path, district)
    got = read_district(f"sqlite:///{path}", district)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(getattr(got, name), frame, check_exact=True)
    assert got.scores["assessment_id"].iloc[0] > got.scores["assessment_id"].iloc[-1]  # the table's own order


def test_a_declared_collation_reads_the_scores_whole(tmp_path: Path) -> None:
    path = tmp_path / "nocase.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE otus_assessments (id TEXT COLLATE NOCASE PRIMARY KEY, district_id TEXT)")
        conn.execute(
            "CREATE TABLE otus_scores (assessment_id TEXT, student_id TEXT, PRIMARY KEY (assessment_id, student_id))"
        )
        conn.executemany("INSERT INTO otus_assessments VALUES (?, 'd1')", [(f"a{i:04d}",) for i in range(1000)])
    conn = arrow.sqlite_connection(str(path))
    try:
        assert arrow._score_ranges(conn, "d1") is None
    finally:
        conn.close()


def test_a_part_that_cannot_be_read_as_arrow_sends_the_whole_table_to_the_row_path(
    tmp_path: Path, s_world: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, district = s_world
    path = tmp_path / "bad-bytes.db"
    path.write_bytes(source.read_bytes())
    with sqlite3.connect(path) as conn:  # bytes that are not UTF-8 in one score of the last part only
        conn.execute(
            "UPDATE otus_scores SET state = CAST(x'67726164ff6564' AS TEXT) WHERE assessment_id = "
            "(SELECT max(id) FROM otus_assessments WHERE district_id = ?)",
            (district,),
        )
    threaded = read_district(f"sqlite:///{path}", district).scores
    assert "grad\ufffded" in set(threaded["state"].dropna())
    monkeypatch.setattr(arrow, "read_tables", lambda *_a, **_k: {})  # everything row by row, one connection
    pd.testing.assert_frame_equal(threaded, read_district(f"sqlite:///{path}", district).scores, check_exact=True)
