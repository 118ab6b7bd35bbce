"""Reading one district's Otus source into typed frames.

Robust to what a foreign database may hold: bytes that are not UTF-8 (replaced with U+FFFD), text in
numeric or boolean columns, malformed dates, 'inf'/'NaN', NULLs anywhere, unknown enum values,
duplicate rows (a table without its primary key).  Nothing here raises on a bad value: it becomes
NA/NaN/NaT and the rules classify the row.  Extra columns are ignored.

Column dtypes (the contract ``passback.domain`` consumes):
- text columns: pandas ``str`` (NA allowed);
- ``points_possible``, ``points_earned``: float64 (NaN for missing or not a number; 'inf' stays inf);
- ``include_in_final_grade``, ``excluded``: nullable ``boolean`` (1/0, true/false, yes/no, t/f, y/n;
  anything else NA);
- ``assign_date``, ``due_date``: datetime64[ns] at midnight (the first ten characters as YYYY-MM-DD);
- ``updated_at``: datetime64[ns] (ISO 8601; NaT when unparseable or out of range).

SQLite files and PostgreSQL are read as Arrow through ADBC drivers (``passback.source.arrow``); a
table that path cannot convert exactly (bytes that are not UTF-8, mixed storage classes, unknown
types) is read row by row instead: SQLite with the stdlib driver in chunks (strict UTF-8 first; a
table that holds invalid bytes is re-read with a replacing decoder), other databases through
SQLAlchemy with the same per-chunk conversion.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from passback.domain.columns import release_memory
from passback.source import arrow
from passback.source.contract import (  # the read contract (re-exported: passback.source.read.COLUMNS, STR)
    CODED,
    COLUMNS,
    DATES,
    FLAGS,
    NUMBERS,
    STR,
    TIMESTAMPS,
    assemble,
    dates_of_text,
    queries,
    timestamps_of_text,
)
from passback.source.write import sqlite_path

TRUE_TEXT = ("1", "1.0", "true", "t", "yes", "y")
FALSE_TEXT = ("0", "0.0", "false", "f", "no", "n")
CHUNK_ROWS = 200_000


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


# -- per-chunk conversion: a column's raw values (a tuple from zip(*rows)) -> arrow or numpy ----------
def _clean_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value).encode("utf-8", errors="replace").decode("utf-8")


def _text(values: Sequence[Any]) -> pa.Array:
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
        return pa.array([_clean_text(v) for v in values], type=pa.string())


def _numbers(values: Sequence[Any]) -> np.ndarray:
    try:
        return np.array(values, dtype="float64")
    except (ValueError, TypeError, OverflowError):
        return pd.to_numeric(pd.Series(values, dtype=object).map(_number_or_none), errors="coerce").to_numpy("float64")


def _number_or_none(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace").strip()
    return value.strip() if isinstance(value, str) else value


def _flags(values: Sequence[Any]) -> pd.arrays.BooleanArray:
    try:
        as_float = np.array(values, dtype="float64")
        mask = ~((as_float == 0) | (as_float == 1))
        return pd.arrays.BooleanArray(as_float == 1, mask)
    except (ValueError, TypeError, OverflowError):
        words = pd.Series([_clean_text(v) for v in values], dtype=STR).str.strip().str.lower()
        truthy, falsy = words.isin(TRUE_TEXT).to_numpy(bool), words.isin(FALSE_TEXT).to_numpy(bool)
        return pd.arrays.BooleanArray(truthy, ~(truthy | falsy))


def _iso(values: Sequence[Any]) -> Sequence[Any]:
    """date/datetime objects (from a typed database) -> ISO text; text passes through."""
    first = next((v for v in values if v is not None), None)
    if not hasattr(first, "isoformat"):
        return values
    return [v.isoformat() if hasattr(v, "isoformat") else v for v in values]


def _dates(values: Sequence[Any]) -> np.ndarray:
    return dates_of_text(_text(_iso(values)))


def _timestamps(values: Sequence[Any]) -> np.ndarray:
    return timestamps_of_text(_text(_iso(values)))


def _coded(name: str, values: Sequence[Any]) -> pa.Array:
    """Integer codes (and text for values outside the vocabulary) -> text."""
    vocabulary = pa.array(CODED[name], type=pa.string())
    try:
        return vocabulary.take(pa.array(values, type=pa.int64()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, IndexError):
        return _text([CODED[name][v] if type(v) is int and 0 <= v < len(CODED[name]) else v for v in values])


def _convert(name: str, values: Sequence[Any], coded: bool) -> Any:
    if coded and name in CODED:
        return _coded(name, values)
    if name in NUMBERS:
        return _numbers(values)
    if name in FLAGS:
        return _flags(values)
    if name in DATES:
        return _dates(values)
    if name in TIMESTAMPS:
        return _timestamps(values)
    return _text(values)


def _frame(rows_in_chunks: Iterable[Sequence[Sequence[Any]]], columns: list[str], *, coded: bool) -> pd.DataFrame:
    """Typed frame from chunks of rows; ``coded``: the query selected ``CODED`` columns as codes."""
    pieces: dict[str, list[Any]] = {c: [] for c in columns}
    for rows in rows_in_chunks:
        if not rows:
            continue
        for i, name in enumerate(columns):  # one column at a time: cheaper than zip(*rows)
            pieces[name].append(_convert(name, list(map(itemgetter(i), rows)), coded))
    return assemble(columns, pieces)


# -- drivers -----------------------------------------------------------------------------------------
def _replacing(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _chunks(cursor: Any, size: int) -> Iterable[Sequence[Sequence[Any]]]:
    while rows := cursor.fetchmany(size):
        yield rows


def _read_sqlite_table(conn: sqlite3.Connection, sql: str, district_id: str, columns: list[str]) -> pd.DataFrame:
    sql = sql.replace(":d", "?")
    try:
        conn.text_factory = str  # fast: strict UTF-8 in C
        return _frame(_chunks(conn.execute(sql, (district_id,)), CHUNK_ROWS), columns, coded=True)
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc).lower():
            raise
    conn.text_factory = _replacing  # this table holds bytes that are not UTF-8
    return _frame(_chunks(conn.execute(sql, (district_id,)), CHUNK_ROWS), columns, coded=True)


def _read_sqlite(path: str, district_id: str) -> dict[str, pd.DataFrame]:
    if not Path(path).exists():
        raise FileNotFoundError(
            f"the Otus source database {path} does not exist; create it with `passback seed` or set PASSBACK_SOURCE_URL"
        )
    frames = arrow.read_tables(lambda: arrow.sqlite_connection(path), district_id, sqlite=True)
    rest = [name for name in COLUMNS if name not in frames]
    if rest:
        conn = sqlite3.connect(f"file:{quote(Path(path).as_posix())}?mode=ro", uri=True)
        try:
            sql = queries(cast_text=True)
            frames.update({name: _read_sqlite_table(conn, sql[name], district_id, COLUMNS[name]) for name in rest})
        finally:
            conn.close()
    return {name: frames[name] for name in COLUMNS}


def _read_sqlalchemy(engine: Engine, district_id: str) -> dict[str, pd.DataFrame]:
    sqlite = engine.dialect.name == "sqlite"
    frames = (
        {}
        if sqlite
        else arrow.read_tables(lambda: arrow.postgres_connection(engine.url), district_id, sqlite=False)
        if engine.dialect.name == "postgresql"
        else {}
    )
    with engine.connect() as conn:
        if sqlite:  # an in-memory SQLite engine: decode like the file path does, but always tolerantly
            conn.connection.driver_connection.text_factory = _replacing  # type: ignore[union-attr]
        for name, sql in queries(cast_text=sqlite).items():
            if name in frames:
                continue
            result = conn.execution_options(stream_results=True).execute(text(sql), {"d": district_id})
            frames[name] = _frame(_chunks(result, CHUNK_ROWS), COLUMNS[name], coded=sqlite)
    return {name: frames[name] for name in COLUMNS}


def read_district(url_or_engine: str | Engine, district_id: str) -> SourceFrames:
    """All six source tables of one district as typed frames (columns: ``COLUMNS``; dtypes: module doc)."""
    if isinstance(url_or_engine, Engine) and url_or_engine.dialect.name == "sqlite":
        path = url_or_engine.url.database if url_or_engine.url.database not in (None, "", ":memory:") else None
    else:
        path = sqlite_path(url_or_engine) if isinstance(url_or_engine, str) else None
    if path is not None:
        frames = _read_sqlite(path, district_id)
    elif isinstance(url_or_engine, Engine):
        frames = _read_sqlalchemy(url_or_engine, district_id)
    else:
        engine = create_engine(url_or_engine)
        try:
            frames = _read_sqlalchemy(engine, district_id)
        finally:
            engine.dispose()
    release_memory()  # the drivers' buffers are freed: hand the pages back before the next stage
    return SourceFrames(**frames)


def group_size(url: str, district_id: str) -> int:
    """Members of the district's passback teacher group (for the pre-flight check)."""
    sql = "SELECT COUNT(*) FROM otus_group_members WHERE district_id = :d"
    path = sqlite_path(url)
    if path is not None:
        with sqlite3.connect(f"file:{quote(Path(path).as_posix())}?mode=ro", uri=True) as conn:
            return int(conn.execute(sql.replace(":d", "?"), (district_id,)).fetchone()[0])
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql), {"d": district_id}).scalar_one())
    finally:
        engine.dispose()
