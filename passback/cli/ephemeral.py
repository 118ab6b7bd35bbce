"""The temporary Prefect API of a CLI command dies with the command, even on ``kill -9``.

Without ``PREFECT_API_URL`` Prefect 3 starts a temporary API server as a child process
(``prefect.server.api.server.SubprocessASGIServer``) and stops it from an ``atexit`` hook — which
never runs when the CLI is killed, so the server was left running, re-parented to init.  Here the
CLI installs its own instance of that class (the slot Prefect's test harness also uses) whose child
asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``).

The signal follows the *thread* that forked, not the process, so every fork happens on one thread
that lives as long as the CLI does.  Linux only; elsewhere Prefect's own behaviour is unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` (runs in the child between fork and exec): SIGTERM when the parent dies."""
    prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl  # resolved before fork

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class _Forker:
    """One daemon thread that starts every such child: it lives until the process ends."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] = queue.Queue()
        threading.Thread(target=self._serve, name="passback-prefect-forker", daemon=True).start()

    def _serve(self) -> None:
        while True:
            job, answer = self._jobs.get()
            try:
                answer.put((True, job()))
            except BaseException as exc:  # handed back to the caller  # noqa: BLE001
                answer.put((False, exc))

    def run(self, job: Callable[[], Any]) -> Any:
        answer: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._jobs.put((job, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return value


def install() -> None:
    """Make the temporary Prefect API that a flow may start die with this process.

    A no-op when a Prefect API is configured (``PREFECT_API_URL``), when a temporary server is
    already installed or running (the test harness), or off Linux."""
    if not sys.platform.startswith("linux"):
        return
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return
    from prefect.server.api import server as prefect_server

    if prefect_server.SubprocessASGIServer._instances.get(None) is not None:
        return
    forker = _Forker()
    parent = os.getpid()

    class OwnedServer(prefect_server.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            return forker.run(
                lambda: _with_preexec(super(OwnedServer, self)._run_uvicorn_command, die_with_parent(parent))
            )

    OwnedServer()  # registers itself in the slot Prefect looks in (``SubprocessASGIServer()``, port None)
    assert isinstance(prefect_server.SubprocessASGIServer(), OwnedServer)


def _with_preexec(start: Callable[[], subprocess.Popen[Any]], preexec: Callable[[], None]) -> subprocess.Popen[Any]:
    """Run Prefect's own ``Popen`` of the server (its command and environment, unchanged) with ``preexec``."""
    from prefect.server.api import server as prefect_server

    real = prefect_server.subprocess

    class _Subprocess:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        def Popen(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
            kwargs.setdefault("preexec_fn", preexec)
            return real.Popen(*args, **kwargs)

    prefect_server.subprocess = _Subprocess()  # type: ignore[assignment]
    try:
        return start()
    finally:
        prefect_server.subprocess = real
