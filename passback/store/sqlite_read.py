"""A district's ledger rows out of a SQLite state DB as Arrow batches, without a Python object per
value (issue 16: 3.5M result rows of preset L).

Through Python's ``sqlite3`` (never ADBC on SQLite: see ``passback/store/ledger.py``).  SQLite
itself joins each row's columns into one line (unit separator between values, newline between
rows) and a key range of rows into one blob (``group_concat``); pyarrow's CSV reader parses the blob
into typed columns in C.  The rows come in key ranges of ``batch_rows``: the next range's upper key
is looked up in the primary-key index first (index only), so a range is exact whatever order
``group_concat`` walks it in.  A range whose blob does not parse into exactly its row count (an id
holding a separator) is read again as Python rows — that range only, the others stay fast.

Only for NOT NULL text and integer columns (SQLite would render a REAL with 15 digits; a NULL
would drop its row from the concatenation): ``fits`` says when; the caller reads rows otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Integer, String, Table

_KEY = ("assessment_id", "student_id")  # after (district_id, kind): the rest of the primary key
_WHERE = "district_id = ? AND kind = ?"


def arrow_type(table: Table, column: str) -> pa.DataType | None:
    """The Arrow type a NOT NULL text or integer column parses as; None for any other column."""
    col = table.columns[column]
    if col.nullable:
        return None
    affinity = col.type._type_affinity  # String for sqlmodel's AutoString (its python_type is object)
    if affinity is not None and issubclass(affinity, Integer):
        return pa.int64()
    if affinity is not None and issubclass(affinity, String):
        return pa.string()
    return None


def fits(table: Table, columns: list[str]) -> bool:
    return all(arrow_type(table, c) is not None for c in columns) and all(
        c in [k.name for k in table.primary_key.columns] for c in ("district_id", "kind", *_KEY)
    )


def blob_batches(
    raw: Any, table: Table, district_id: str, kind: str, columns: list[str], batch_rows: int
) -> Iterator[dict[str, pa.Array]]:
    """``{column: Arrow array}`` per key range of ``batch_rows`` rows, in key order (``raw``: a
    ``sqlite3`` connection)."""
    types = {c: arrow_type(table, c) for c in columns}
    line = " || char(31) || ".join(f'"{c}"' for c in columns)
    last: tuple[str, str] = ("", "")
    op = ">="  # the first range starts at the smallest key (every text is >= ""), the next after the last
    while True:
        after = f"{_WHERE} AND (assessment_id, student_id) {op} (?, ?)"
        bound_sql = (
            f"SELECT assessment_id, student_id FROM {table.name} WHERE {after} "  # noqa: S608 - schema names
            f"ORDER BY assessment_id, student_id LIMIT 1 OFFSET {int(batch_rows) - 1}"
        )
        bound = raw.execute(bound_sql, (district_id, kind, *last)).fetchone()
        condition = f"{after} AND (assessment_id, student_id) <= (?, ?)" if bound else after
        params = (district_id, kind, *last, *(bound or ()))
        blob = f"SELECT CAST(group_concat({line}, char(10)) AS BLOB), count(*) FROM {table.name} WHERE {condition}"  # noqa: S608
        data, count = raw.execute(blob, params).fetchone()
        if count:
            batch = _parse(data, columns, types, count)
            if batch is None:  # a value holding a separator: this range as Python rows
                rows_sql = f"SELECT {', '.join(columns)} FROM {table.name} WHERE {condition}"  # noqa: S608
                rows = raw.execute(rows_sql, params).fetchall()
                batch = {
                    c: pa.array(list(v), type=types[c]) for c, v in zip(columns, zip(*rows, strict=True), strict=True)
                }
            yield batch
        if bound is None:
            return
        last, op = (bound[0], bound[1]), ">"


def _parse(data: bytes, columns: list[str], types: dict[str, Any], count: int) -> dict[str, pa.Array] | None:
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=columns, block_size=max(len(data) + 1, 1 << 20)),
            parse_options=pa_csv.ParseOptions(
                delimiter="\x1f", quote_char=False, escape_char=False, newlines_in_values=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False, null_values=[]
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != count:
        return None
    return {c: table.column(c).combine_chunks() for c in columns}
