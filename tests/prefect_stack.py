"""The tests' one real Prefect stack: ``prefect server start`` on loopback, the repository's
deployments (prefect.yaml) and a process worker (``PrefectStack``), with helpers to drive flow runs
through its REST API.

It costs ~40-60 s of CPU to start, so the session builds one (the ``prefect_stack`` fixture) and
the modules that need it (``STACK_MODULES``) run on the same pytest-xdist worker, one after the
other, each with its own districts in the stack's PASSBACK_HOME and its own simulator: a module
passes its districts to the nightly explicitly and reads back only its own flow runs.  The
``prefect_harness`` fixture (conftest) is the lighter temporary API for everything else."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
STACK_MODULES = ("flows/test_deployment.py", "guards/test_pause.py", "guards/test_alerts.py")
STACK_PATHS = frozenset(f"tests/{path}" for path in STACK_MODULES)  # as in pytest node ids
LOCK_TAKEOVER_S = 4.0  # the stack's lock takeover time (the pause test holds a lock past it)
PREFECT_DB = "prefect.db"  # a Prefect API's SQLite file under its PREFECT_HOME (Prefect's default URL)
# A Prefect server with a new database migrates it (~7.5 s of CPU) and registers Prefect's block
# types (~2 s); the session's servers (each worker's harness, the stack, the CLI's temporary API)
# start instead from one database prepared so, once per session: ``prefect_db_template``.
TEMPLATE_SCRIPT = """
import asyncio
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration

async def prepare():
    db = provide_database_interface()
    await db.create_db()
    async with await db.session() as session:
        await run_block_auto_registration(session=session)

asyncio.run(prepare())
"""


def _loopback() -> httpx.Client:
    """The tests' shared plain-http client (``tests.toolkit.LOOPBACK``), imported when first used."""
    from tests.toolkit import LOOPBACK

    return LOOPBACK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """``prefect ARGS`` in the repository root; its stdout (a failure shows its output)."""
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def prefect_db_template(root: Path) -> Path:
    """A Prefect database migrated to head with Prefect's block types registered, made once in
    ``root`` (the session's base temporary folder, shared by the xdist workers: the first one makes
    it, the others wait for it)."""
    template = root / "prefect-template" / PREFECT_DB
    template.parent.mkdir(exist_ok=True)
    with open(template.parent / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not template.exists():
            partial = template.with_suffix(".partial")
            env = {
                **os.environ,
                "PREFECT_HOME": str(template.parent),
                "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{partial}",
            }
            done = subprocess.run(
                [sys.executable, "-c", TEMPLATE_SCRIPT], env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"preparing the Prefect database failed:\n{done.stderr}"
            with contextlib.closing(sqlite3.connect(partial)) as conn:  # the WAL's pages into the file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            partial.rename(template)
    return template


def seeded(folder: Path, template: Path, name: str = PREFECT_DB) -> Path:
    """``folder`` holding a copy of the prepared database as ``name`` (by default where a server with
    PREFECT_HOME=folder looks for it)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / name)
    return folder


# a server started on a copy need not register the block types again (the copy holds them)
NO_BLOCK_REGISTRATION = {"PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false"}


@contextmanager
def passback_home(home: Path, **env: str) -> Iterator[None]:
    """This process uses ``home`` (SQLite state and source DBs) and ``env`` for a test module; the
    variables, settings and engines are as before afterwards."""
    from passback.settings import reset_settings
    from passback.store.db import forget_engines

    names = ("PASSBACK_HOME", "PASSBACK_STATE_URL", *env)
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(PASSBACK_HOME=str(home), **env)
    os.environ.pop("PASSBACK_STATE_URL", None)
    reset_settings()
    forget_engines()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        forget_engines()
        reset_settings()


class PrefectStack:
    """``prefect server start`` + work pool + ``prefect deploy --all`` + ``prefect worker start``."""

    def __init__(self, home: Path, prefect_home: Path, template: Path, **env: str) -> None:
        """Server (on a copy of the prepared database ``template``), pool, deployments and worker; a
        failure on the way stops what was started."""
        port = free_port()
        self.home = home
        self.api = f"http://127.0.0.1:{port}/api"
        self.env = dict(
            os.environ,
            PREFECT_HOME=str(prefect_home),
            PREFECT_API_URL=self.api,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_UI_ENABLED="false",
            PASSBACK_HOME=str(home),
            PREFECT_LOGGING_LEVEL="INFO",
            # the worker asks for scheduled runs every second, not every 10 s: a test's deployment
            # run starts at once instead of ~5 s later on average (~10 runs in the stack's modules)
            PREFECT_WORKER_QUERY_SECONDS="1",
            **NO_BLOCK_REGISTRATION,
            **env,
        )
        seeded(prefect_home, template)
        self.env.pop("PASSBACK_STATE_URL", None)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs = prefect_home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port))
            self._healthy()
            prefect(self.env, "work-pool", "create", "passback", "--type", "process")
            prefect(self.env, "--no-prompt", "deploy", "--all")
            self._start("worker", "worker", "start", "--pool", "passback", "--limit", "4")
        except BaseException:
            self.close()
            raise

    def _start(self, name: str, *args: str) -> None:
        out = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "prefect", *args], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        )

    def _healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if _loopback().get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"the Prefect server did not become healthy in {timeout:.0f} s")

    def close(self) -> None:
        """Stop the worker and the server (again: nothing more)."""
        procs, self.procs = self.procs, []
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    # -- the REST API ---------------------------------------------------------------------
    def get(self, path: str) -> Any:
        response = self._retry(lambda: _loopback().get(f"{self.api}{path}", timeout=30))
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> httpx.Response:
        return self._retry(lambda: _loopback().post(f"{self.api}{path}", json=body, timeout=30))

    @staticmethod
    def _retry(call: Any, patience: float = 60) -> httpx.Response:
        """The server's SQLite answers 503 ("database is locked") while the machine is busy: the
        request changed nothing; it is sent again, for ``patience`` seconds at most."""
        deadline = time.monotonic() + patience
        response = call()
        while response.status_code == 503 and time.monotonic() < deadline:
            time.sleep(1)
            response = call()
        return response

    def delete(self, path: str) -> None:
        self._retry(lambda: _loopback().delete(f"{self.api}{path}", timeout=30)).raise_for_status()

    def run_deployment(self, name: str, **parameters: Any) -> str:
        deployment = self.get(f"/deployments/name/{name}")
        response = self.post(f"/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def state(self, flow_run_id: str) -> dict[str, Any]:
        return self.get(f"/flow_runs/{flow_run_id}")["state"] or {}

    def wait(self, flow_run_id: str, *types: str, timeout: float = 300) -> dict[str, Any]:
        """Until the flow run's state type is one of ``types`` (or a final one); returns the state."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.state(flow_run_id)
            if state.get("type") in types or state.get("type") in FINAL:
                return state
            time.sleep(0.5)
        raise AssertionError(
            f"flow run {flow_run_id} still {state.get('type')} after {timeout:.0f} s "
            f"(worker log: {self.logs / 'worker.log'})"
        )

    def inputs(self, flow_run_id: str) -> dict[str, Any]:
        """The flow run's inputs (the pause form's description and schema) by key."""
        response = self.post(f"/flow_runs/{flow_run_id}/input/filter", {"prefix": "", "limit": 100})
        response.raise_for_status()
        return {row["key"]: row["value"] for row in response.json()}

    def resume(self, flow_run_id: str, **answer: Any) -> None:
        response = self.post(f"/flow_runs/{flow_run_id}/resume", {"run_input": answer})
        assert response.status_code in (200, 201) and response.json()["status"] == "ACCEPT", response.text
