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
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passback.source import contract

log = logging.getLogger("passback.source")
SQLITE_BATCH_ROWS = 65_536  # the SQLite driver infers each column's type from its first batch


class NotArrow(Exception):
    """This table cannot be read exactly through Arrow: read it row by row."""


def sqlite_connection(path: str) -> Any:
    import adbc_driver_sqlite.dbapi as adbc

    return adbc.connect(f"file:{quote(Path(path).as_posix())}?mode=ro")


def postgres_connection(sqlalchemy_url: Any) -> Any:
    import adbc_driver_postgresql.dbapi as adbc

    return adbc.connect(sqlalchemy_url.set(drivername="postgresql").render_as_string(hide_password=False))


def read_tables(connect: Any, district_id: str, *, sqlite: bool) -> dict[str, pd.DataFrame]:
    """The district's tables this path reads exactly; the others are left out (read them row by row)."""
    try:
        conn = connect()
    except Exception as exc:  # noqa: BLE001 - no ADBC driver or it cannot connect: the row path reads everything
        log.debug("source: no Arrow driver (%s: %s); reading rows", type(exc).__name__, exc)
        return {}
    frames = {}
    try:
        for name, sql in contract.queries(cast_text=sqlite, coded=False).items():
            try:
                frames[name] = read_table(
                    conn,
                    sql.replace(":d", "?" if sqlite else "$1"),
                    (district_id,),
                    contract.COLUMNS[name],
                    sqlite=sqlite,
                )
            except NotArrow as exc:
                log.debug("source: %s read row by row (%s)", name, exc)
    finally:
        conn.close()
    return frames


def read_table(conn: Any, sql: str, params: tuple[Any, ...], columns: list[str], *, sqlite: bool) -> pd.DataFrame:
    """One query's rows as a contract frame; raises ``NotArrow`` (see the module doc)."""
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
    return contract.assemble(columns, pieces)


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
