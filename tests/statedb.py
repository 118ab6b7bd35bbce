"""An empty, migrated state DB on SQLite or PostgreSQL (drops every table: for tests and benchmarks only).

Migrating a state DB from nothing costs ~0.1 s on SQLite and ~0.3 s on PostgreSQL (alembic, per test):
``emptied`` gives PostgreSQL its clean state by TRUNCATE when the schema is at head, and
``template_init_db`` gives a brand-new SQLite file the bytes of one migrated per test process.
Tests about creating the schema ask for a truly fresh one (``pytest.mark.fresh_state_db``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from passback.store.db import make_engine, sqlite_file
from passback.store.migrate import current, head_revision, schema_lock, upgrade


def drop_everything(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            for (name,) in conn.execute(
                text("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
            ).fetchall():
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))


def fresh_engine(url: str, revision: str = "head") -> Engine:
    engine = make_engine(url)
    drop_everything(engine)
    upgrade(engine, revision)
    return engine


_HEAD_TABLES: dict[str, frozenset[str]] = {}  # per URL: the tables a migration to head left


def emptied(engine: Engine) -> None:
    """The state of a database just migrated to head, with no rows: by TRUNCATE (sequences restarted)
    when the schema is at head and holds exactly the tables a migration to head made here; otherwise
    every table is dropped and the schema migrated again."""
    url = engine.url.render_as_string(hide_password=False)
    known = _HEAD_TABLES.get(url)
    tables = frozenset(inspect(engine).get_table_names())
    if known is not None and tables == known and current(engine) == head_revision():
        data = sorted(tables - {"alembic_version"})
        with engine.begin() as conn:
            names = ", ".join(f'"{t}"' for t in data)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    drop_everything(engine)
    upgrade(engine)
    _HEAD_TABLES[url] = frozenset(inspect(engine).get_table_names())


def template_init_db(template: Path, migrate: Callable[[Engine], None]) -> Callable[[Engine], None]:
    """``passback.store.db.init_db`` for this test process: a SQLite file that is new (empty) gets the
    bytes of ``template`` (a state DB ``migrate`` brought to head once); anything else is migrated."""

    def init_db(engine: Engine) -> None:
        path = sqlite_file(str(engine.url))
        if path is None:
            migrate(engine)
            return
        with schema_lock(engine):  # as the real one: two engines on one new file copy once
            if path.stat().st_size == 0 and not Path(f"{path}-wal").exists():
                shutil.copyfile(template, path)  # the file keeps its own mode (0600)
                return
        migrate(engine)

    return init_db
