"""The tests' one toolkit: the simulator's admin plane, registering a district, one run, the CLI.

* ``Sis``: the simulator (a real server on loopback) through its admin endpoints
  (``passback/simulator/admin.py``): state, stats, request log, faults, settings, clients, resets;
* ``register``: a district in the state DB against a simulator URL (every other register delegates);
* ``run_sync``: one district run on the library path at the factory's fixed "now";
* ``cli``: ``passback ARGS`` in this process through ``passback.cli.main`` (exit codes, one-line errors);
  ``prefect_db``: the Prefect API's database file (where the ``cli_process`` children's runs are stored);
* the factory world's small variant on a running simulator (``small_world``, ``running_sis``).

Fixtures stay in the conftest files; this module holds plain functions and classes only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import (
    CLIENT_ID,
    CLIENT_SECRET,
    MAPPING,
    TODAY,
    World,
    assessment,
    scenario_for,
    score,
    world,
    write_source,
)

REPO = Path(__file__).resolve().parents[1]
UTC_NOW = dt.datetime.combine(TODAY, dt.time(16, 0), tzinfo=dt.UTC)  # 10:00 in Chicago
WIDE = {"COLUMNS": "200"}  # rich tables are 80 columns wide when not on a terminal: keep cells whole
OK_STATUSES = ("200", "201")

if TYPE_CHECKING:
    from passback.sync.report import DistrictSummary


# -- plain http to loopback servers -------------------------------------------------------------
# The tests' own calls to the servers they start (the simulator's admin plane and API, a Prefect API)
# share one client: ``httpx.get()`` builds a client per call, and each loads the CA bundle for TLS
# (~50 ms of CPU; ~3 % of the suite's).  These servers speak plain http, so no TLS set-up at all.  No
# keep-alive: each call has its own connection, as a one-off call had (servers come and go).
LOOPBACK = httpx.Client(verify=False, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))


# -- the simulator's admin plane --------------------------------------------------------------
@dataclass
class Sis:
    """The running simulator (``url``; ``app``, the ASGI app, when the test runs it in this process)."""

    url: str
    app: Any = None

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = LOOPBACK.request(method, f"{self.url}/admin/{path.lstrip('/')}", timeout=300, **kwargs)
        response.raise_for_status()
        return response

    def state(self, tenant: str = "d1", *, objects: bool = True) -> dict[str, Any]:
        return dict(self.admin("GET", "state", params={"tenant": tenant, "objects": str(objects).lower()}).json())

    def stats(self) -> dict[str, Any]:
        return dict(self.admin("GET", "stats").json())

    def tenant_stats(self, tenant: str) -> dict[str, Any]:
        return self.stats()["tenants"].get(tenant) or {"puts": {}, "writes": 0, "requests": 0, "token_requests": {}}

    def stored_writes(self, tenant: str) -> int:
        """PUTs the simulator answered 200/201 (a write that was stored)."""
        puts = self.tenant_stats(tenant)["puts"]
        return sum(n for counts in puts.values() for status, n in counts.items() if status in OK_STATUSES)

    def puts_by_status(self, tenant: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for counts in self.tenant_stats(tenant)["puts"].values():
            for status, n in counts.items():
                out[status] = out.get(status, 0) + n
        return out

    def puts(self, tenant: str, kind: str) -> dict[str, int]:
        """PUT answers of one kind (lineItem | result) by status, e.g. {"201": 40, "422": 3}."""
        return dict(self.tenant_stats(tenant).get("puts", {}).get(kind, {}))

    def requests(self, tenant: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """The request log (every tenant's unless ``tenant``), after sequence number ``since``."""
        params: dict[str, Any] = {"since": since}
        if tenant:
            params["tenant"] = tenant
        return list(self.admin("GET", "requests", params=params).json()["requests"])

    def faults(self, **patch: Any) -> dict[str, Any]:
        return dict(self.admin("POST", "faults", json=patch).json())

    def settings(self, tenant: str = "d1", **values: bool) -> None:
        self.admin("POST", f"tenants/{tenant}/settings", json=values)

    def revoke(self, tenant: str = "d1", client_id: str | None = None) -> None:
        self.admin("POST", f"tenants/{tenant}/clients/{client_id or f'otus-{tenant}'}/revoke")

    def rotate(self, tenant: str, client_id: str, secret: str) -> None:
        self.admin("POST", f"tenants/{tenant}/clients", json={"client_id": client_id, "client_secret": secret})

    def reset_stats(self) -> None:
        self.admin("POST", "reset-stats")

    def reset_gradebook(self, scenario_path: Path) -> None:
        """Empty the scenario's tenants' gradebooks (rostering reseeded) and clear the counters."""
        self.admin(
            "POST",
            "load-scenario",
            params={"reset_gradebook": "true"},
            content=scenario_path.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        self.reset_stats()


# -- the state DB and one run -------------------------------------------------------------------
def register(
    district_id: str,
    sis_url: str,
    *,
    mapping: Mapping[str, str] = MAPPING,
    closed_periods: list[str] | None = None,
    **overrides: Any,
) -> None:
    """District ``district_id`` in the state DB against the simulator at ``sis_url`` (tenant: ``tenant`` or
    the id), the factory's client and dates unless overridden, ``mapping`` set, ``closed_periods`` configured."""
    from passback.simulator.server import tenant_urls
    from passback.store import districts as store
    from passback.store.db import get_engine

    api, token = tenant_urls(sis_url, overrides.pop("tenant", district_id))
    engine = get_engine(get_settings().state_db_url)
    spec = dict(
        id=district_id,
        name=f"District {district_id}",
        base_url=api,
        token_url=token,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        effective_date=dt.date(2026, 8, 17),
        timezone="America/Chicago",
    )
    spec.update(overrides)
    store.add_district(engine, store.DistrictSpec(**spec))
    store.set_mapping(engine, district_id, dict(mapping))
    if closed_periods is not None:
        store.set_closed_periods_config(engine, district_id, closed_periods)


def run_sync(district_id: str = "d1", **options: Any) -> DistrictSummary:
    from passback.sync.district import RunOptions, sync_district

    opts = RunOptions(utc_now=UTC_NOW, build_docs=False, **options)
    return asyncio.run(sync_district(district_id, opts))


def rewrite_source(w: World) -> None:
    write_source(w, get_settings().source_db_url)


def state_dump(home: Path) -> list[str]:
    """Every row of the SQLite state DB (to prove a failed command changed nothing)."""
    path = home / "state.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


# -- the command line ---------------------------------------------------------------------------
@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def lines(self) -> list[str]:
        """The non-blank lines of stdout then stderr."""
        return [line for line in (self.out + self.err).splitlines() if line.strip()]


def cli(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Ran:
    """``passback ARGS`` in this process, through ``passback.cli.main`` (exit codes, one-line errors)."""
    from typer.testing import CliRunner

    from passback.cli import main

    runner = CliRunner()
    with runner.isolation(input=input, env={**WIDE, **(env or {})}) as (out, err, _):
        argv, sys.argv = sys.argv, ["passback", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        return Ran(code, out.getvalue().decode(), err.getvalue().decode())


def prefect_db() -> Path:
    """The SQLite file of the Prefect API this process talks to (the session's harness server, which
    ``cli_process`` children use too): what flow runs stored there can be read back."""
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    return Path(str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).split("///", 1)[1])


def prefect_mark(table: str) -> int:
    """The newest row of a table in ``prefect_db()`` (SQLite rowids grow: a later row has a larger one)."""
    with contextlib.closing(sqlite3.connect(prefect_db())) as conn:
        return int(conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()[0])


def prefect_values(table: str, column: str, after: int = 0) -> set[Any]:
    """``column`` of the rows of ``table`` in ``prefect_db()`` stored after ``prefect_mark(table)`` was ``after``
    (the session's Prefect API is shared by a worker's tests: a test reads what its own commands stored)."""
    with contextlib.closing(sqlite3.connect(prefect_db())) as conn:
        rows = conn.execute(f"SELECT {column} FROM {table} WHERE rowid > ? AND {column} IS NOT NULL", (after,))
        return {value for (value,) in rows}


# -- a small world on a running simulator -------------------------------------------------------
def small_world() -> World:
    """a-1 and a-2 by u-t1 (in the group), a-3 by u-t2 (not in the group); two students each."""
    rows = [
        assessment(id="a-1"),
        assessment(id="a-2", title="Lab report", assessment_type="Lab"),
        assessment(id="a-3", assigned_by="u-t2", title="Co-teacher quiz"),
    ]
    scores = [
        score(assessment_id=a, student_id=s, points_earned=p)
        for a in ("a-1", "a-2", "a-3")
        for s, p in (("u-s1", 7.0), ("u-s2", 9.5))
    ]
    return world(rows, scores, group=["u-t1"])


@contextlib.contextmanager
def running_sis(w: World, tweak: Callable[[Any], None] | None = None) -> Iterator[Sis]:
    """The world in the Otus source DB and its SIS side (tenant d1, changed by ``tweak``) on loopback."""
    from passback.simulator.server import SimulatorThread

    write_source(w, get_settings().source_db_url)
    district = scenario_for(w)
    if tweak is not None:
        tweak(district)
    with SimulatorThread(Scenario(districts=[district])) as server:
        yield Sis(server.url)


def s2_not_enrolled(district: Any) -> None:
    """The SIS does not enrol u-s2 (sky-s2) in the class: its results are refused (student_not_enrolled)."""
    district.enrollments = [e for e in district.enrollments if e.userSourcedId != "sky-s2"]


def unlicensed(district: Any) -> None:
    district.settings.licensed = False
