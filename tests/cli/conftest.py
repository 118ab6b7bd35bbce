"""CLI fixtures: the ``passback`` entry point in-process (``main()``, the one place errors become one
line) and as a child process (commands that run a Prefect flow), a factory world in the Otus source
DB and the simulator on loopback seeded with its SIS side."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.toolkit import REPO, WIDE, Ran, Sis, running_sis, small_world


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for every child process of the session (a fresh one costs ~7 s more to start)."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture
def cli_process(home: Path, prefect_home: Path) -> Any:
    """``python -m passback ARGS`` as a child process: stdout and stderr exactly as a script sees them."""
    def run(*args: str, timeout: float = 300) -> Ran:
        env = {**os.environ, **WIDE, "PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PASSBACK_HOME": str(home)}
        env.pop("PREFECT_API_URL", None)
        done = subprocess.run([sys.executable, "-m", "passback", *args], capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=timeout)
        return Ran(done.returncode, done.stdout, done.stderr)
    return run


@pytest.fixture
def sis(home: Path) -> Iterator[Sis]:
    with running_sis(small_world()) as s:
        yield s
