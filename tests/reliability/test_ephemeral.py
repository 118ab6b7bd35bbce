"""A killed CLI leaves no process behind: ``kill -9`` of ``passback sync`` takes its temporary Prefect
API server with it (before, the server was re-parented to init and ran on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.toolkit import REPO, WIDE, register, running_sis, small_world


def children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_for_server(cli: subprocess.Popen[Any], timeout: float = 180) -> tuple[int, int]:
    """(pid, port) of the CLI's temporary Prefect API once it answers /api/health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert cli.poll() is None, f"the CLI ended before its Prefect server was seen: {cli.communicate()}"
        for pid in children(cli.pid):
            args = cmdline(pid).split()
            if "prefect.server.api.server:create_app" in args:
                port = int(args[args.index("--port") + 1])
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                        return pid, port
                except httpx.HTTPError:
                    pass
        time.sleep(0.1)
    raise AssertionError("the CLI's temporary Prefect API never came up")


def test_kill_9_of_the_cli_takes_its_temporary_prefect_server_with_it(home: Path, tmp_path: Path) -> None:
    prefect_home = tmp_path / "prefect-home"
    with running_sis(small_world()) as sis:
        register("d1", sis.url)
        env = {
            **os.environ,
            **WIDE,
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PASSBACK_HOME": str(home),
        }
        env.pop("PREFECT_API_URL", None)
        cli = subprocess.Popen(
            [sys.executable, "-m", "passback", "sync", "--json"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        family: list[int] = []
        try:
            server_pid, port = wait_for_server(cli)
            family = children(cli.pid)
            assert server_pid in family
            os.kill(cli.pid, signal.SIGKILL)
            cli.wait(timeout=10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(alive(p) for p in family):
                time.sleep(0.1)
            left = {p: cmdline(p) for p in family if alive(p)}
            assert left == {}, f"still running after the CLI was killed: {left}"
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                answered = True
            except httpx.HTTPError:
                answered = False
            assert not answered  # nothing listens on the server's port any more
        finally:  # whatever happened, nothing this test started runs on
            family += children(cli.pid) if cli.poll() is None else []
            if cli.poll() is None:
                cli.kill()
                cli.wait()
            for pid in family:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
