"""Engines and sessions for the state DB (SQLite by default, PostgreSQL in production and CI)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

_ENGINES: dict[str, Engine] = {}


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for in-memory SQLite and other databases)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" and not path.startswith("file::memory:") else None


def create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only (0600) unless it exists (SQLite's -wal and -shm
    files take the database file's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            create_private_file(path)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic)."""
    from passback.store.migrate import upgrade

    upgrade(engine)


def get_engine(url: str) -> Engine:
    """One engine per URL per process, with the schema migrated on first use."""
    if url not in _ENGINES:
        engine = make_engine(url)
        init_db(engine)
        _ENGINES[url] = engine
    return _ENGINES[url]


def forget_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@contextlib.contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
