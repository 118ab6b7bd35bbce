"""Shared fixtures: every test gets its own PASSBACK_HOME (state DB, source DB, key, docs).

``state_url`` runs on SQLite always and, when PASSBACK_TEST_PG_URL is set (CI), on PostgreSQL too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passback.settings import reset_settings
from passback.store.db import forget_engines


def _per_worker() -> None:
    """Under pytest-xdist each worker gets its own PostgreSQL database (``state_url`` drops schemas)
    and its own PREFECT_HOME (one Prefect database per process): set before anything reads them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    home = os.environ.get("PREFECT_HOME")
    if home:
        os.environ["PREFECT_HOME"] = str(Path(home) / worker)
        Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    base = os.environ.get("PASSBACK_TEST_PG_URL")
    if base:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(base)
        mine = url.set(database=f"{url.database}_{worker}")
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": mine.database}).first():
                conn.execute(text(f'CREATE DATABASE "{mine.database}"'))
        admin.dispose()
        os.environ["PASSBACK_TEST_PG_URL"] = mine.render_as_string(hide_password=False)


_per_worker()
PG_URL = os.environ.get("PASSBACK_TEST_PG_URL")
STATE_BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

# The longest modules, longest first (measured with --durations=0): pytest-xdist hands groups out in
# collection order (--dist loadgroup --no-loadscope-reorder, one group per module), so these start
# early and the many short modules fill the gaps at the end instead of one worker finishing alone.
LONGEST_FIRST = (
    "flows/test_deployment.py",  # the shared Prefect stack's group (with pause and alerts): ~5 min
    "guards/test_pause.py",
    "guards/test_alerts.py",
    "reliability/test_bad_input_cli.py",
    "cli/test_backfill_demo.py",
    "reliability/test_statedb.py",
    "audit/test_heal.py",
    "reliability/test_overlap.py",
    "guards/test_cli_sync.py",
    "reliability/test_hostile.py",
    "e2e/test_sync.py",
    "reliability/test_ephemeral.py",
    "audit/test_atomic.py",
    "guards/test_guards.py",
    "reliability/test_credentials.py",
    "reliability/test_first_use.py",
    "guards/test_approve.py",
    "flows/test_flows.py",
    "reliability/test_storm.py",
    "domain/test_plan_identity.py",
    "cli/test_sync.py",
    "domain/test_properties.py",
    "domain/test_rules.py",
    "reliability/test_secrets.py",
    "quality/test_na_property.py",
    "report/test_report.py",
    "reliability/test_bad_input_rules.py",
    "cli/test_errors.py",
    "reliability/test_lock.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """The controller compiles the repository's modules once, before the workers start: the tests
    start ~100 Python processes (the CLI, flow runs, simulators) that import them, and where
    PYTHONDONTWRITEBYTECODE is set (this machine, many CI images) each compiled them again."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import compileall

    root = Path(__file__).resolve().parents[1]
    for package in ("passback", "flows", "tasks", "tests"):
        compileall.compile_dir(root / package, quiet=1)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first; each module is one xdist group (``--dist loadgroup``: a module's
    fixtures are built once), except the modules of the shared Prefect stack, which are one group."""
    rank = {f"tests/{path}": i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order
    for item in items:
        item.add_marker(pytest.mark.xdist_group("prefect-stack" if _in_stack(item) else item.nodeid.split("::")[0]))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated PASSBACK_HOME with SQLite state and source DBs."""
    for var in ("PASSBACK_STATE_URL", "PASSBACK_SOURCE_URL", "PASSBACK_SECRET_KEY", "PASSBACK_DATA_DOCS_DIR"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("PASSBACK_HOME", str(tmp_path / "home"))
    reset_settings()
    forget_engines()
    yield tmp_path / "home"
    forget_engines()
    reset_settings()


@pytest.fixture(scope="session")
def state_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite state DB migrated to head by alembic, once per test process (``tests.statedb``)."""
    from passback.store.db import init_db, make_engine

    path = tmp_path_factory.mktemp("state-template") / "state.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(autouse=True)
def _state_from_template(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new SQLite state DB in this process starts as a copy of ``state_template`` instead of being
    migrated by alembic (~0.1 s a test); a test marked ``fresh_state_db`` migrates for real.  Child
    processes (the CLI, workers) always run the real migration."""
    if request.node.get_closest_marker("fresh_state_db"):
        return
    import passback.store.db as db
    from tests.statedb import template_init_db

    monkeypatch.setattr(db, "init_db", template_init_db(request.getfixturevalue("state_template"), db.init_db))


@pytest.fixture(params=STATE_BACKENDS)
def state_url(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The state DB URL on each backend, set as PASSBACK_STATE_URL: a new SQLite file, or the worker's
    PostgreSQL database emptied (at head, no rows; no schema at all for a test marked ``fresh_state_db``)."""
    from passback.store.db import make_engine
    from tests.statedb import drop_everything, emptied

    url = f"sqlite:///{home / 'state.db'}" if request.param == "sqlite" else str(PG_URL)
    if request.param == "postgresql":
        engine = make_engine(url)
        if request.node.get_closest_marker("fresh_state_db"):
            drop_everything(engine)
        else:
            emptied(engine)
        engine.dispose()
    monkeypatch.setenv("PASSBACK_STATE_URL", url)
    reset_settings()
    forget_engines()
    yield url
    forget_engines()


@pytest.fixture
def factory_world() -> Any:
    """The small factory world (``tests.toolkit.small_world``): a-1, a-2 by u-t1 (in the group), a-3 by u-t2."""
    from tests.toolkit import small_world

    return small_world()


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's base temporary folder, shared by its xdist workers (each has a folder in it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def prefect_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Prefect database prepared once per session for every Prefect server the tests start."""
    from tests.prefect_stack import prefect_db_template

    return prefect_db_template(_shared_root(tmp_path_factory))


@pytest.fixture(scope="session")
def prefect_harness(prefect_template: Path) -> Iterator[None]:
    """One temporary Prefect API per session (per xdist worker) for the flow tests and the CLI's child
    processes, started on a copy of ``prefect_template`` (Prefect's harness names its database file
    ``prefect-test.db`` in a new temporary folder: that folder is made holding the copy)."""
    import tempfile

    import prefect.testing.utilities as harness
    from prefect.testing.utilities import prefect_test_harness

    from tests.prefect_stack import NO_BLOCK_REGISTRATION, seeded

    with contextlib.ExitStack() as running:
        with pytest.MonkeyPatch.context() as mp:  # while it starts only
            mp.setattr(
                harness, "mkdtemp", lambda: str(seeded(Path(tempfile.mkdtemp()), prefect_template, "prefect-test.db"))
            )
            for name, value in NO_BLOCK_REGISTRATION.items():
                mp.setenv(name, value)  # the server's environment is this process's when it starts
            running.enter_context(prefect_test_harness(server_startup_timeout=300))  # ~11 s idle; minutes when busy
        yield


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory: pytest.TempPathFactory, prefect_template: Path) -> Path:
    """One PREFECT_HOME for every child process of the session, holding a copy of ``prefect_template``
    (the first command starting Prefect's temporary API there does not migrate a new database)."""
    from tests.prefect_stack import seeded

    return seeded(tmp_path_factory.mktemp("prefect-home"), prefect_template)


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness: None) -> str:
    """The session's Prefect API (the harness server, one per xdist worker).  Child processes use it
    rather than each starting Prefect's temporary API (~7-10 s of CPU per command on this machine);
    what they store is in ``tests.toolkit.prefect_db()``."""
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


_stacks: list[Any] = []  # the session's Prefect stack, once started


@pytest.fixture(scope="session")
def prefect_stack(tmp_path_factory: pytest.TempPathFactory, prefect_template: Path) -> Iterator[Any]:
    """The session's real Prefect server, deployments and process worker (``tests.prefect_stack``)."""
    from tests.prefect_stack import LOCK_TAKEOVER_S, PrefectStack

    base = tmp_path_factory.mktemp("prefect-stack")
    (base / "home").mkdir()
    stack = PrefectStack(
        base / "home", base / "prefect", prefect_template, PASSBACK_LOCK_TAKEOVER_S=str(LOCK_TAKEOVER_S)
    )
    _stacks.append(stack)
    try:
        yield stack
    finally:
        stack.close()


def _in_stack(item: pytest.Item | None) -> bool:
    from tests.prefect_stack import STACK_PATHS

    return item is not None and item.nodeid.split("::")[0] in STACK_PATHS


@pytest.hookimpl(trylast=True)  # after the module's own fixtures were torn down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The stack's modules run one after another on one worker (one xdist group, handed out whole):
    after the last of them the stack stops, instead of idling to the session's end (its server and
    worker cost ~4 s of CPU a minute doing nothing)."""
    if _stacks and _in_stack(item) and not _in_stack(nextitem):
        for stack in _stacks:
            stack.close()


@pytest.fixture
def cli_process(home: Path, prefect_home: Path, prefect_api_url: str) -> Any:
    """``python -m passback ARGS`` as a child process: stdout and stderr exactly as a script sees them.

    Its flows run on the session's Prefect API; ``ephemeral=True`` runs the command as on a machine
    without one (no PREFECT_API_URL: the CLI starts Prefect's temporary API under ``prefect_home``)."""
    from tests.toolkit import REPO, WIDE, Ran

    def run(*args: str, timeout: float = 300, ephemeral: bool = False) -> Ran:
        env = {
            **os.environ,
            **WIDE,
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PASSBACK_HOME": str(home),
            "PREFECT_API_URL": prefect_api_url,
        }
        if ephemeral:
            env.pop("PREFECT_API_URL")
        done = subprocess.run(
            [sys.executable, "-m", "passback", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=timeout,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run
