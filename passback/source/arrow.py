"""The fast path of ``passback.source.read``: a district's tables as Arrow through ADBC drivers.

SQLite files (``adbc-driver-sqlite``) and PostgreSQL (``adbc-driver-postgresql``, binary COPY) hand
over whole columns; nothing becomes a Python object per value (L: 4.8M scores in ~1/3 of the CPU
of the row path).  Arrow columns are converted to the same contract as the row path (module doc of
``passback.source.read``).  Anything this path is not sure to convert exactly like the row path
raises ``NotArrow`` and the caller reads that table row by row instead:

- bytes that are not UTF-8 (the row path replaces them with U+FFFD);
- SQLite values of another storage class than their column's others (text in a number column):
  the driver would format numbers as text with 7 significant digits;
- a type this module does not know (the row path turns anything into text or NA).
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passback.source import contract

log = logging.getLogger("passback.source")
SQLITE_BATCH_ROWS = 65_536  # the SQLite driver infers each column's type from its first batch
READ_THREADS = 2  # the tables (and the parts of the scores) are read on this many threads
SCORE_PARTS = 4  # a SQLite source's scores in this many ranges of assessment ids (``_score_ranges``)
MIN_PART_ASSESSMENTS = 64  # fewer assessments than this per part: the scores are read whole


class NotArrow(Exception):
    """This table cannot be read exactly through Arrow: read it row by row."""


def sqlite_connection(path: str) -> Any:
    import adbc_driver_sqlite.dbapi as adbc

    return adbc.connect(f"file:{quote(Path(path).as_posix())}?mode=ro")


def postgres_connection(sqlalchemy_url: Any) -> Any:
    import adbc_driver_postgresql.dbapi as adbc

    return adbc.connect(sqlalchemy_url.set(drivername="postgresql").render_as_string(hide_password=False))


def read_tables(connect: Any, district_id: str, *, sqlite: bool) -> dict[str, pd.DataFrame]:
    """The district's tables this path reads exactly; the others are left out (read them row by row).

    The tables are read on ``READ_THREADS`` threads, each part on a connection of its own: the
    drivers fetch without holding the GIL (py-spy ``--gil``: ~0 of the fetch's samples), so a second
    core reads while the first converts.  A SQLite source's scores come in ``SCORE_PARTS`` ranges of
    assessment ids when the query plan makes the parts, one after another, exactly the rows and order
    of the whole query (``_score_ranges``); a table any part of which cannot be read exactly is left
    out whole."""
    try:
        conn = connect()
    except Exception as exc:  # noqa: BLE001 - no ADBC driver or it cannot connect: the row path reads everything
        log.debug("source: no Arrow driver (%s: %s); reading rows", type(exc).__name__, exc)
        return {}
    try:
        jobs = _jobs(conn, district_id, sqlite=sqlite)
    finally:
        conn.close()
    parts: dict[str, list[dict[str, list[Any]] | None]] = {}
    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="passback-source") as pool:
        futures = [(name, pool.submit(_read_part, connect, sql, params, name, sqlite)) for name, sql, params in jobs]
        for name, future in futures:
            try:
                parts.setdefault(name, []).append(future.result())
            except NotArrow as exc:
                log.debug("source: %s read row by row (%s)", name, exc)
                parts.setdefault(name, []).append(None)
    frames = {}
    for name, pieces in parts.items():
        if any(p is None for p in pieces):
            continue
        columns = contract.COLUMNS[name]
        frames[name] = contract.assemble(columns, {c: [a for p in pieces if p for a in p[c]] for c in columns})
    return frames


def _jobs(conn: Any, district_id: str, *, sqlite: bool) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(table, query, parameters) to read, the largest first: the scores (in parts on SQLite), then the rest."""
    mark = "?" if sqlite else "$1"
    whole = contract.queries(cast_text=sqlite, coded=False)
    ranges = _score_ranges(conn, district_id) if sqlite else None
    if ranges is None:
        jobs = [("scores", whole["scores"].replace(":d", mark), (district_id,))]
    else:
        jobs = [("scores", sql, params) for sql, params in _range_queries(district_id, ranges)]
    return jobs + [(name, sql.replace(":d", mark), (district_id,)) for name, sql in whole.items() if name != "scores"]


def _range_queries(district_id: str, ranges: list[tuple[Any, Any]]) -> list[tuple[str, tuple[Any, ...]]]:
    out = []
    for lo, hi in ranges:
        condition = " AND ".join(
            c for c, v in (("id >= ?", lo), ("id < ?", hi)) if v is not None
        )  # the first range has no lower bound, the last no upper one
        sql = contract.queries(cast_text=True, coded=False, assessment_range=condition)["scores"]
        out.append((sql.replace(":d", "?"), (district_id, *(v for v in (lo, hi) if v is not None))))
    return out


def _score_ranges(conn: Any, district_id: str) -> list[tuple[Any, Any]] | None:
    """``SCORE_PARTS`` ranges of the district's assessment ids (None: read the scores whole).

    Only when every part's plan, and the whole query's, is the one that visits the scores assessment
    by assessment in ascending id order: the IN list's sorted values drive a search of the scores by
    ``assessment_id`` (``_ORDERED_PLAN``).  Then the parts read one after another are the whole read,
    row for row and in order.  No declared collation (the IN list and ``ORDER BY id`` must sort alike)."""
    try:
        ddl = _fetch(conn, "SELECT sql FROM sqlite_master WHERE name IN ('otus_scores', 'otus_assessments')", ())
        if any("collate" in str(sql).lower() for sql in ddl.column(0).to_pylist()):
            return None
        ids = _fetch(
            conn, "SELECT id FROM otus_assessments WHERE district_id = ? AND id IS NOT NULL ORDER BY id", (district_id,)
        ).column(0)
        if not pa.types.is_string(ids.type) or len(ids) < SCORE_PARTS * MIN_PART_ASSESSMENTS:
            return None
        bounds = sorted({ids[len(ids) * k // SCORE_PARTS].as_py() for k in range(1, SCORE_PARTS)})
        ranges = list(zip([None, *bounds], [*bounds, None], strict=True))
        whole = contract.queries(cast_text=True, coded=False)["scores"].replace(":d", "?")
        queries = [(whole, (district_id,)), *_range_queries(district_id, ranges)]
        return ranges if all(_ordered(conn, sql, params) for sql, params in queries) else None
    except Exception as exc:  # noqa: BLE001 - anything unexpected: the scores are read whole, as before
        log.debug("source: scores read whole (%s: %s)", type(exc).__name__, exc)
        return None


_ORDERED_PLAN = re.compile(r"SEARCH (?:TABLE )?s USING (?:PRIMARY KEY|(?:COVERING )?INDEX \S+) \(assessment_id=\?\)")


def _ordered(conn: Any, sql: str, params: tuple[Any, ...]) -> bool:
    plan = _fetch(conn, f"EXPLAIN QUERY PLAN {sql}", params).to_pylist()
    top = [row["detail"] for row in plan if row["parent"] == 0]
    return len(top) == 2 and bool(_ORDERED_PLAN.fullmatch(top[0])) and top[1].startswith("LIST SUBQUERY")


def _fetch(conn: Any, sql: str, params: tuple[Any, ...]) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetch_arrow_table()


def _read_part(connect: Any, sql: str, params: tuple[Any, ...], name: str, sqlite: bool) -> dict[str, list[Any]]:
    try:
        conn = connect()
    except Exception as exc:
        raise NotArrow(f"{type(exc).__name__}: {exc}") from exc
    try:
        return read_pieces(conn, sql, params, contract.COLUMNS[name], sqlite=sqlite)
    finally:
        conn.close()


def read_table(conn: Any, sql: str, params: tuple[Any, ...], columns: list[str], *, sqlite: bool) -> pd.DataFrame:
    """One query's rows as a contract frame; raises ``NotArrow`` (see the module doc)."""
    return contract.assemble(columns, read_pieces(conn, sql, params, columns, sqlite=sqlite))


def read_pieces(
    conn: Any, sql: str, params: tuple[Any, ...], columns: list[str], *, sqlite: bool
) -> dict[str, list[Any]]:
    """One query's rows as converted arrays per column and batch (``contract.assemble`` joins them)."""
    pieces: dict[str, list[Any]] = {name: [] for name in columns}
    try:
        with conn.cursor() as cursor:
            if sqlite:
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(SQLITE_BATCH_ROWS)})
            cursor.execute(sql, params)
            reader = cursor.fetch_record_batch()
            if len(reader.schema) != len(columns):
                raise NotArrow(f"expected {len(columns)} columns, got {len(reader.schema)}")
            for batch in reader:  # one batch at a time: the raw rows never all sit in memory next to the frame
                for i, name in enumerate(columns):
                    pieces[name].append(convert(name, batch.column(i)))
    except NotArrow:
        raise
    except Exception as exc:
        raise NotArrow(f"{type(exc).__name__}: {exc}") from exc
    return pieces


def _all_null(arr: pa.Array) -> bool:
    return arr.null_count == len(arr)


def convert(name: str, arr: pa.Array) -> Any:
    """One Arrow column -> the contract's array for ``name`` (as ``read._convert`` does for Python values)."""
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            arr.validate(full=True)  # the driver hands over bytes as stored: UTF-8 is checked here
        except pa.ArrowInvalid as exc:
            raise NotArrow(f"{name}: {exc}") from exc
    if name in contract.NUMBERS:
        if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_null(t):
            return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        raise NotArrow(f"{name}: {t}")
    if name in contract.FLAGS:
        if pa.types.is_boolean(t) or pa.types.is_null(t):
            mask = ~pc.is_valid(arr).to_numpy(zero_copy_only=False)
            values = pc.fill_null(arr.cast(pa.bool_()), False).to_numpy(zero_copy_only=False)
            return pd.arrays.BooleanArray(values.astype(bool), mask)
        if pa.types.is_floating(t) or pa.types.is_integer(t):
            as_float = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            return pd.arrays.BooleanArray(as_float == 1, ~((as_float == 0) | (as_float == 1)))
        raise NotArrow(f"{name}: {t}")
    if name in contract.DATES:
        if pa.types.is_date(t) or (pa.types.is_timestamp(t) and t.tz is None):
            days = pc.cast(arr, pa.date32()) if pa.types.is_timestamp(t) else arr
            return contract.to_ns(days.to_numpy(zero_copy_only=False).astype("datetime64[D]"))
        return contract.dates_of_text(_as_text(name, arr))
    if name in contract.TIMESTAMPS:
        if pa.types.is_timestamp(t):  # with a time zone: the instant in UTC, naive (as the row path converts offsets)
            return contract.to_ns(
                pc.cast(arr, pa.timestamp("us", tz=t.tz)).cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
            )
        if pa.types.is_date(t):
            return contract.to_ns(arr.to_numpy(zero_copy_only=False).astype("datetime64[D]"))
        return contract.timestamps_of_text(_as_text(name, arr))
    return _tight(_as_text(name, arr))


def _tight(arr: pa.Array) -> pa.Array:
    """A copy in buffers of its own size: the driver's batch buffers (grown by doubling) are let go."""
    return pa.concat_arrays([arr.cast(pa.large_string()), pa.array([], pa.large_string())])


def _as_text(name: str, arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr
    if _all_null(arr):  # e.g. SQLite types a column with no value at all as int64
        return pa.nulls(len(arr), pa.string())
    raise NotArrow(f"{name}: {t}")
