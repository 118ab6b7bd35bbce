"""Alembic, driven from Python: `upgrade(engine)` brings any state DB to the newest schema.

Several processes may start on a fresh state DB at once (workers, parallel CLI calls): the upgrade
runs under a lock — a PostgreSQL advisory lock, a file lock beside a SQLite file — so one process
creates the schema and the others find it done.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_LOCK_KEY = 0x7061_7373_6261_636B  # "passback": the advisory lock id of schema changes


def config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with schema_lock(engine):
        command.upgrade(config(engine), revision)


@contextlib.contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Held by one process at a time per database while it creates or migrates the schema."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
        return
    from passback.store.db import sqlite_file

    path = sqlite_file(str(engine.url)) if engine.dialect.name == "sqlite" else None
    if path is None:  # in-memory SQLite: one process by definition
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def head_revision() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
