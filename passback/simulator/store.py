"""The simulator's state in SQLite (stdlib ``sqlite3``): objects stored as JSON text, indexed by
(tenant, sourcedId) and by the few columns the rules and sub-collections need.

Tables: ``tenant`` (settings), ``client`` (API access records, secrets stored as SHA-256),
``roster`` (orgs, academicSessions, classes, users, categories: ``k1`` = session type / user role,
``k2`` = session parent), ``enrollment``, ``line_item``, ``result``.  All access happens on the
server's event loop thread, one statement (or one seeding transaction) at a time; WAL and
``synchronous=NORMAL`` keep a file database at hundreds of writes per second.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenant (tenant TEXT PRIMARY KEY, settings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS client (
    tenant TEXT NOT NULL, client_id TEXT NOT NULL, secret_sha256 TEXT NOT NULL, scopes TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tenant, client_id));
CREATE TABLE IF NOT EXISTS roster (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, sid TEXT NOT NULL,
    k1 TEXT, k2 TEXT, data TEXT NOT NULL, UNIQUE (tenant, kind, sid));
CREATE INDEX IF NOT EXISTS roster_k1 ON roster (tenant, kind, k1, sid);
CREATE TABLE IF NOT EXISTS enrollment (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, sid TEXT NOT NULL, class_id TEXT NOT NULL,
    user_id TEXT NOT NULL, role TEXT NOT NULL, data TEXT NOT NULL, UNIQUE (tenant, sid));
CREATE INDEX IF NOT EXISTS enrollment_class ON enrollment (tenant, class_id, role, user_id);
CREATE TABLE IF NOT EXISTS line_item (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, sid TEXT NOT NULL, class_id TEXT NOT NULL,
    period_id TEXT, data TEXT NOT NULL, UNIQUE (tenant, sid));
CREATE INDEX IF NOT EXISTS line_item_class ON line_item (tenant, class_id);
CREATE TABLE IF NOT EXISTS result (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, sid TEXT NOT NULL, line_item_id TEXT NOT NULL,
    class_id TEXT NOT NULL, data TEXT NOT NULL, UNIQUE (tenant, sid));
CREATE INDEX IF NOT EXISTS result_line_item ON result (tenant, line_item_id);
CREATE INDEX IF NOT EXISTS result_class ON result (tenant, class_id);
"""

CLOSED_KEY = "skyward.gradingPeriodClosed"
DISTRICT_LEVEL_KEY = "skyward.districtLevel"


@dataclass(frozen=True, slots=True)
class Period:
    sourced_id: str
    start: dt.date
    end: dt.date
    closed: bool

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    status: str
    district_level: bool


@dataclass(frozen=True, slots=True)
class ClientRecord:
    tenant: str
    client_id: str
    secret_sha256: str
    scopes: tuple[str, ...]
    revoked: bool


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> str:
    """Compact JSON text (one shared encoder: seeding encodes ~300k objects)."""
    return _ENCODER.encode(obj)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA temp_store=MEMORY")
        self.db.execute("PRAGMA cache_size=-65536")
        self.db.executescript(SCHEMA)
        self._periods: dict[str, list[Period]] = {}
        self._categories: dict[str, dict[str, CategoryInfo]] = {}
        self._settings: dict[str, dict[str, bool]] = {}
        self._counts: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        self.db.close()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, params).fetchone()

    def invalidate(self, tenant: str | None = None) -> None:
        for cache in (self._periods, self._categories, self._settings):
            if tenant is None:
                cache.clear()
            else:
                cache.pop(tenant, None)
        self._counts.clear()

    # -- tenants, settings, clients -------------------------------------------------------------
    def tenants(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT tenant FROM tenant ORDER BY tenant")]

    def has_tenant(self, tenant: str) -> bool:
        return tenant in self._settings or self._one("SELECT 1 FROM tenant WHERE tenant=?", (tenant,)) is not None

    def settings(self, tenant: str) -> dict[str, bool]:
        cached = self._settings.get(tenant)
        if cached is None:
            row = self._one("SELECT settings FROM tenant WHERE tenant=?", (tenant,))
            if row is None:
                return {}
            cached = self._settings[tenant] = json.loads(row[0])
        return cached

    def set_settings(self, tenant: str, settings: dict[str, bool]) -> None:
        self.db.execute(
            "INSERT INTO tenant VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET settings=excluded.settings",
            (tenant, dumps(settings)),
        )
        self._settings[tenant] = dict(settings)

    def client(self, tenant: str, client_id: str) -> ClientRecord | None:
        row = self._one(
            "SELECT secret_sha256, scopes, revoked FROM client WHERE tenant=? AND client_id=?", (tenant, client_id)
        )
        return ClientRecord(tenant, client_id, row[0], tuple(json.loads(row[1])), bool(row[2])) if row else None

    def put_client(self, tenant: str, client_id: str, secret_sha256: str, scopes: Sequence[str]) -> None:
        self.db.execute(
            "INSERT INTO client VALUES (?, ?, ?, ?, 0) ON CONFLICT (tenant, client_id) DO UPDATE SET "
            "secret_sha256=excluded.secret_sha256, scopes=excluded.scopes, revoked=0",
            (tenant, client_id, secret_sha256, dumps(list(scopes))),
        )

    def revoke_client(self, tenant: str, client_id: str) -> bool:
        cur = self.db.execute("UPDATE client SET revoked=1 WHERE tenant=? AND client_id=?", (tenant, client_id))
        return cur.rowcount > 0

    # -- seeding --------------------------------------------------------------------------------
    def replace_roster(
        self,
        tenant: str,
        roster: Iterable[tuple[str, str, str | None, str | None, str]],
        enrollments: Iterable[tuple[str, str, str, str, str]],
    ) -> None:
        """Replace a tenant's rostering objects (kind, sid, k1, k2, json) and enrollments
        (sid, class, user, role, json) and its clients in one transaction; the gradebook stays."""
        db = self.db
        db.execute("BEGIN")
        try:
            for table in ("roster", "enrollment", "client"):
                db.execute(f"DELETE FROM {table} WHERE tenant=?", (tenant,))
            db.executemany(
                "INSERT INTO roster (tenant, kind, sid, k1, k2, data) VALUES (?, ?, ?, ?, ?, ?)",
                ((tenant, *row) for row in roster),
            )
            db.executemany(
                "INSERT INTO enrollment (tenant, sid, class_id, user_id, role, data) VALUES (?, ?, ?, ?, ?, ?)",
                ((tenant, *row) for row in enrollments),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.invalidate(tenant)

    def clear_gradebook(self, tenant: str) -> None:
        self.db.execute("DELETE FROM result WHERE tenant=?", (tenant,))
        self.db.execute("DELETE FROM line_item WHERE tenant=?", (tenant,))
        self._counts.clear()

    # -- rostering lookups used by the rules ----------------------------------------------------
    def roster_object(self, tenant: str, kind: str, sid: str) -> dict[str, Any] | None:
        row = self._one("SELECT data FROM roster WHERE tenant=? AND kind=? AND sid=?", (tenant, kind, sid))
        return json.loads(row[0]) if row else None

    def roster_k1(self, tenant: str, kind: str, sid: str) -> str | None:
        """The type of an academicSession / the role of a user; '' when it exists without one; None if unknown."""
        row = self._one("SELECT k1 FROM roster WHERE tenant=? AND kind=? AND sid=?", (tenant, kind, sid))
        return None if row is None else (row[0] or "")

    def is_enrolled(self, tenant: str, class_id: str, user_id: str, role: str = "student") -> bool:
        return (
            self._one(
                "SELECT 1 FROM enrollment WHERE tenant=? AND class_id=? AND role=? AND user_id=? LIMIT 1",
                (tenant, class_id, role, user_id),
            )
            is not None
        )

    def add_enrollment(self, tenant: str, sid: str, class_id: str, user_id: str, role: str, data: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO enrollment (tenant, sid, class_id, user_id, role, data) VALUES (?, ?, ?, ?, ?, ?)",
            (tenant, sid, class_id, user_id, role, data),
        )

    def periods(self, tenant: str) -> list[Period]:
        cached = self._periods.get(tenant)
        if cached is None:
            rows = self.db.execute(
                "SELECT data FROM roster WHERE tenant=? AND kind='academicSession' AND k1='gradingPeriod'", (tenant,)
            )
            cached = []
            for (data,) in rows:
                obj = json.loads(data)
                closed = bool((obj.get("metadata") or {}).get(CLOSED_KEY, False))
                cached.append(
                    Period(
                        obj["sourcedId"],
                        dt.date.fromisoformat(obj["startDate"][:10]),
                        dt.date.fromisoformat(obj["endDate"][:10]),
                        closed,
                    )
                )
            cached.sort(key=lambda p: (p.start, p.sourced_id))
            self._periods[tenant] = cached
        return cached

    def set_period_closed(self, tenant: str, sid: str, closed: bool) -> bool:
        cur = self.db.execute(
            f"UPDATE roster SET data=json_set(data, '$.metadata.\"{CLOSED_KEY}\"', json(?), '$.dateLastModified', ?) "
            "WHERE tenant=? AND kind='academicSession' AND k1='gradingPeriod' AND sid=?",
            ("true" if closed else "false", now_iso(), tenant, sid),
        )
        self._periods.pop(tenant, None)
        return cur.rowcount > 0

    def categories(self, tenant: str) -> dict[str, CategoryInfo]:
        cached = self._categories.get(tenant)
        if cached is None:
            cached = {}
            for (data,) in self.db.execute("SELECT data FROM roster WHERE tenant=? AND kind='category'", (tenant,)):
                obj = json.loads(data)
                level = bool((obj.get("metadata") or {}).get(DISTRICT_LEVEL_KEY, True))
                cached[obj["sourcedId"]] = CategoryInfo(str(obj.get("status", "active")), level)
            self._categories[tenant] = cached
        return cached

    # -- gradebook --------------------------------------------------------------------------------
    def line_item(self, tenant: str, sid: str) -> tuple[str, str | None, dict[str, Any]] | None:
        """(class, grading period, object) of a stored lineItem, or None."""
        row = self._one("SELECT class_id, period_id, data FROM line_item WHERE tenant=? AND sid=?", (tenant, sid))
        return (row[0], row[1], json.loads(row[2])) if row else None

    def result(self, tenant: str, sid: str) -> tuple[str, str, dict[str, Any]] | None:
        """(lineItem, class, object) of a stored result, or None."""
        row = self._one("SELECT line_item_id, class_id, data FROM result WHERE tenant=? AND sid=?", (tenant, sid))
        return (row[0], row[1], json.loads(row[2])) if row else None

    def _bump(self, table: str, tenant: str, delta: int) -> None:
        key = (table, tenant)
        if key in self._counts:
            self._counts[key] += delta

    def put_line_item(self, tenant: str, sid: str, class_id: str, period_id: str | None, obj: dict[str, Any]) -> bool:
        """Create or replace; True when created."""
        data = dumps(obj)
        cur = self.db.execute(
            "UPDATE line_item SET class_id=?, period_id=?, data=? WHERE tenant=? AND sid=?",
            (class_id, period_id, data, tenant, sid),
        )
        if cur.rowcount:
            self.db.execute(
                "UPDATE result SET class_id=? WHERE tenant=? AND line_item_id=? AND class_id!=?",
                (class_id, tenant, sid, class_id),
            )
            return False
        self.db.execute(
            "INSERT INTO line_item (tenant, sid, class_id, period_id, data) VALUES (?, ?, ?, ?, ?)",
            (tenant, sid, class_id, period_id, data),
        )
        self._bump("line_item", tenant, 1)
        return True

    def put_result(self, tenant: str, sid: str, line_item_id: str, class_id: str, obj: dict[str, Any]) -> bool:
        data = dumps(obj)
        cur = self.db.execute(
            "UPDATE result SET line_item_id=?, class_id=?, data=? WHERE tenant=? AND sid=?",
            (line_item_id, class_id, data, tenant, sid),
        )
        if cur.rowcount:
            return False
        self.db.execute(
            "INSERT INTO result (tenant, sid, line_item_id, class_id, data) VALUES (?, ?, ?, ?, ?)",
            (tenant, sid, line_item_id, class_id, data),
        )
        self._bump("result", tenant, 1)
        return True

    def delete_line_item(self, tenant: str, sid: str) -> bool:
        """Delete a lineItem and its results (as the SIS's gradebook does); True when it existed."""
        cur = self.db.execute("DELETE FROM line_item WHERE tenant=? AND sid=?", (tenant, sid))
        if not cur.rowcount:
            return False
        self._bump("line_item", tenant, -1)
        gone = self.db.execute("DELETE FROM result WHERE tenant=? AND line_item_id=?", (tenant, sid)).rowcount
        self._bump("result", tenant, -gone)
        return True

    def delete_result(self, tenant: str, sid: str) -> bool:
        cur = self.db.execute("DELETE FROM result WHERE tenant=? AND sid=?", (tenant, sid))
        if cur.rowcount:
            self._bump("result", tenant, -1)
        return cur.rowcount > 0

    # -- collections ------------------------------------------------------------------------------
    def count(self, table: str, where: str, params: Sequence[Any]) -> int:
        cacheable = where in ("tenant=?", "tenant=?1") and table in ("line_item", "result")
        key = (table, str(params[0])) if cacheable else None
        if key is not None and key in self._counts:
            return self._counts[key]
        n = int(self._one(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)[0])
        if key is not None:
            self._counts[key] = n
        return n

    def page(
        self, table: str, where: str, params: Sequence[Any], order: str, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """One page of objects: the ids are chosen first (an index-only scan when ordered by sourcedId),
        then their JSON is read."""
        ids = [
            r[0]
            for r in self.db.execute(
                f"SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", (*params, limit, offset)
            )
        ]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        data = dict(self.db.execute(f"SELECT id, data FROM {table} WHERE id IN ({marks})", ids).fetchall())
        return [json.loads(data[i]) for i in ids]

    # -- admin views ------------------------------------------------------------------------------
    def all_objects(self, table: str, tenant: str) -> list[dict[str, Any]]:
        return [
            json.loads(d) for (d,) in self.db.execute(f"SELECT data FROM {table} WHERE tenant=? ORDER BY id", (tenant,))
        ]

    def duplicate_line_items(self, tenant: str) -> int:
        """lineItems sharing (class, title, due date) with another lineItem under a different sourcedId:
        the extra copies (a group of n counts n - 1)."""
        row = self._one(
            "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(DISTINCT sid) AS n FROM line_item WHERE tenant=? "
            "GROUP BY class_id, json_extract(data, '$.title'), substr(json_extract(data, '$.dueDate'), 1, 10) "
            "HAVING n > 1)",
            (tenant,),
        )
        return int(row[0])
