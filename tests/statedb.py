"""An empty, migrated state DB on SQLite or PostgreSQL (drops every table: for tests and benchmarks only)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from passback.store.db import make_engine
from passback.store.migrate import upgrade


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
