"""Writing a generated world: the Otus source tables into a database, the SIS side into a JSON file.

SQLite (the default) is rebuilt from scratch in a temporary file with ``executemany`` in one
transaction per table (no journal while building), then moved into place: the write is idempotent
and a reader never sees half a world.  Other databases get the world's districts replaced through
SQLAlchemy in chunks.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import create_engine, text

from passback.source.models import create_source_schema


class World(Protocol):
    """What is written (``passback.source.generate.GeneratedWorld`` is one): no import back to it."""

    seeds: list[Any]
    scenario: Any

    def frames(self) -> dict[str, pd.DataFrame]: ...


TABLE_NAMES = {
    "users": "otus_users",
    "classes": "otus_classes",
    "enrollments": "otus_enrollments",
    "assessments": "otus_assessments",
    "scores": "otus_scores",
    "group_members": "otus_group_members",
}
DATE_COLUMNS = frozenset({"assign_date", "due_date"})
BATCH_ROWS = 100_000


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///`` URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _arrow(frame: pd.DataFrame, *, as_text: bool) -> pa.Table:
    """Arrow columns; with ``as_text`` dates/timestamps become the text SQLAlchemy stores in SQLite."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if not as_text:
        return table
    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us"))
            fmt = "%Y-%m-%d" if name in DATE_COLUMNS else "%Y-%m-%d %H:%M:%S"  # %S carries the microseconds
            table = table.set_column(i, name, pc.strftime(col, format=fmt))
    return table


def _batches(table: pa.Table) -> Iterator[list[list[Any]]]:
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        yield [col.to_pylist() for col in batch.columns]


def _write_sqlite(world: World, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".building")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # Otus student data: owner only
    engine = create_engine(f"sqlite:///{tmp.as_posix()}")
    create_source_schema(engine)
    engine.dispose()
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        for name, frame in world.frames().items():
            sql = f"INSERT INTO {TABLE_NAMES[name]} ({', '.join(frame.columns)}) VALUES ({', '.join('?' * len(frame.columns))})"
            with conn:
                for cols in _batches(_arrow(frame, as_text=True)):
                    conn.executemany(sql, zip(*cols, strict=True))
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()
    for suffix in ("-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, path)


def _write_sqlalchemy(world: World, url: str) -> None:
    from passback.source.models import SOURCE_TABLES

    engine = create_engine(url)
    create_source_schema(engine)
    tables = {t.name: t for t in SOURCE_TABLES}
    districts = {"ds": [s.district_id for s in world.seeds]}
    with engine.begin() as conn:
        for stmt in (
            "DELETE FROM otus_scores WHERE assessment_id IN (SELECT id FROM otus_assessments WHERE district_id IN :ds)",
            "DELETE FROM otus_enrollments WHERE class_id IN (SELECT id FROM otus_classes WHERE district_id IN :ds)",
            *(
                f"DELETE FROM {t} WHERE district_id IN :ds"
                for t in ("otus_assessments", "otus_classes", "otus_users", "otus_group_members")
            ),
        ):
            conn.execute(text(stmt).bindparams(_in("ds")), districts)
        for name, frame in world.frames().items():
            table = _arrow(frame, as_text=False)
            for batch in table.to_batches(max_chunksize=BATCH_ROWS):
                conn.execute(tables[TABLE_NAMES[name]].insert(), batch.to_pylist())
    engine.dispose()


def _in(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def write_world(world: World, source_url: str, scenario_path: Path | str) -> None:
    """Write the world's source tables to ``source_url`` and its SIS side to ``scenario_path``.

    Idempotent: a SQLite source is recreated; other databases have the world's districts replaced.
    """
    path = sqlite_path(source_url)
    if path is not None:
        _write_sqlite(world, Path(path))
    else:
        _write_sqlalchemy(world, source_url)
    world.scenario.save(Path(scenario_path))
