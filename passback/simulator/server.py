"""Running the simulator as a real HTTP server on loopback (uvicorn, h11).

* ``run_server(...)`` blocks (the ``passback sim serve`` command);
* ``SimulatorThread`` / ``serve(...)``: uvicorn in a background thread, for tests;
* ``SimulatorProcess``: uvicorn in a child process, for load benchmarks (the client must not
  share the server's CPU-bound event loop) and the demo (dying with the CLI that started it).

All wait until ``GET /admin/health`` answers.  The h11 protocol is subclassed so the ``drop``
fault can close the client's connection without an HTTP answer.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from passback.scenario import Scenario
from passback.simulator.app import create_app
from passback.simulator.faults import FaultConfig
from passback.simulator.middleware import DROP_KEY
from passback.simulator.schema import API_PREFIX, TOKEN_SUFFIX

ScenarioSource = Scenario | str | Path | None


def tenant_urls(server_url: str, tenant: str) -> tuple[str, str]:
    """(API base URL, token URL) of a tenant on a simulator at ``server_url``."""
    base = server_url.rstrip("/")
    return f"{base}/{tenant}{API_PREFIX}", f"{base}/{tenant}{TOKEN_SUFFIX}"


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, giving each request a way to drop its connection without an answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope[DROP_KEY] = self._drop_connection
            await inner(scope, receive, send)

        self.app = app

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # no Nagle: a response's head and body leave at once (else +40 ms per keep-alive request)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _drop_connection(self) -> None:
        if self.cycle is not None:
            self.cycle.disconnected = True  # uvicorn then neither answers 500 nor complains
        self.transport.close()


def _load(scenario: ScenarioSource) -> Scenario | None:
    if scenario is None or isinstance(scenario, Scenario):
        return scenario
    return Scenario.load(Path(scenario))


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # listening from here: a client that reads "listening on" (or the port file) and connects before
    # uvicorn has started waits in the backlog instead of being refused (uvicorn listens again: same socket)
    sock.listen(2048)
    return sock


def _config(app: Any, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=DroppableH11Protocol,
        lifespan="off",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=2,
        backlog=2048,
    )


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def wait_healthy(url: str, timeout_s: float, alive: Any = None) -> None:
    deadline = time.monotonic() + timeout_s
    # one client for the whole wait, without TLS set-up (the simulator serves plain http): a new
    # client per poll loaded the CA bundle every 50 ms (~50 ms of CPU each) while a simulator started
    with httpx.Client(timeout=2.0, trust_env=False, verify=False) as http:
        while time.monotonic() < deadline:
            if alive is not None and not alive():
                raise RuntimeError(f"the simulator at {url} exited before it became healthy")
            try:
                if http.get(f"{url}/admin/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"the simulator at {url} was not healthy within {timeout_s:.0f} s")


def run_server(
    scenario_path: Path | None,
    host: str,
    port: int,
    db_path: str,
    faults: FaultConfig,
    *,
    token_lifetime_s: float = 3600,
    port_file: Path | None = None,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM).  ``port`` 0 picks a free port (printed, and written
    to ``port_file`` when given)."""
    app = create_app(_load(scenario_path), db_path=db_path, faults=faults, token_lifetime_s=token_lifetime_s)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    print(f"passback simulator listening on {_url(host, bound)}", file=sys.stderr, flush=True)
    if port_file is not None:
        tmp = Path(f"{port_file}.tmp")
        tmp.write_text(str(bound))
        tmp.replace(port_file)
    uvicorn.Server(_config(app, host, bound)).run(sockets=[sock])


class SimulatorThread:
    """uvicorn in a daemon thread of this process (tests).  ``.app`` is the live app (``.app.state.sim``)."""

    def __init__(
        self,
        scenario: ScenarioSource = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str = ":memory:",
        faults: FaultConfig | None = None,
        token_lifetime_s: float = 3600,
        startup_timeout_s: float = 30,
    ) -> None:
        self.host, self.port = host, port
        self.startup_timeout_s = startup_timeout_s
        self.app = create_app(_load(scenario), db_path=db_path, faults=faults, token_lifetime_s=token_lifetime_s)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    def start(self) -> SimulatorThread:
        if self._thread is not None:
            return self  # already running (e.g. ``with serve(...) as sim``)
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(_config(self.app, self.host, self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"passback-sim-{self.port}", daemon=True
        )
        self._thread.start()
        wait_healthy(self.url, self.startup_timeout_s, self._thread.is_alive)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    scenario: ScenarioSource = None,
    host: str = "127.0.0.1",
    port: int = 0,
    db_path: str = ":memory:",
    faults: FaultConfig | None = None,
    token_lifetime_s: float = 3600,
) -> SimulatorThread:
    """Start the simulator in a background thread and return it once healthy (``.url``, ``.stop()``;
    also a context manager)."""
    return SimulatorThread(
        scenario, host=host, port=port, db_path=db_path, faults=faults, token_lifetime_s=token_lifetime_s
    ).start()


class SimulatorProcess:
    """The simulator in a child process (load benchmarks, the demo): ``with SimulatorProcess(path, faults=...) as sim:``.

    ``preexec_fn`` runs in the child before it starts (the CLI passes ``ephemeral.die_with_parent``:
    the simulator then ends with the CLI, even on ``kill -9``)."""

    def __init__(
        self,
        scenario: ScenarioSource = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str = ":memory:",
        faults: FaultConfig | None = None,
        token_lifetime_s: float = 3600,
        startup_timeout_s: float = 180,
        quiet: bool = True,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.scenario, self.host, self.port = scenario, host, port
        self.db_path, self.faults, self.token_lifetime_s = db_path, faults or FaultConfig(), token_lifetime_s
        self.startup_timeout_s, self.quiet, self.preexec_fn = startup_timeout_s, quiet, preexec_fn
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> SimulatorProcess:
        if self._proc is not None and self._proc.poll() is None:
            return self
        self._tmp = Path(tempfile.mkdtemp(prefix="passback-sim-"))
        scenario = self.scenario
        if isinstance(scenario, Scenario):
            path = self._tmp / "scenario.json"
            scenario.save(path)
            scenario = path
        port_file = self._tmp / "port"
        cmd = [
            sys.executable,
            "-m",
            "passback.simulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--db",
            self.db_path,
            "--faults",
            self.faults.model_dump_json(),
            "--token-lifetime",
            str(self.token_lifetime_s),
            "--port-file",
            str(port_file),
        ]
        if scenario is not None:
            cmd += ["--scenario", str(scenario)]
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL if self.quiet else None,
            stderr=subprocess.DEVNULL if self.quiet else None,
            preexec_fn=self.preexec_fn,
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while not port_file.exists():
            if self._proc.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"the simulator process exited with {self._proc.returncode} before listening"
                    + (" (run with quiet=False to see why)" if self.quiet else "")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the simulator process did not listen within {self.startup_timeout_s:.0f} s")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        wait_healthy(
            self.url,
            max(1.0, deadline - time.monotonic()),
            lambda: self._proc is not None and self._proc.poll() is None,
        )
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
