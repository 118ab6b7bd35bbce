"""CLI fixtures: the ``passback`` entry point in-process (``main()``, the one place errors become one
line) and as a child process (commands that run a Prefect flow), a factory world in the Otus source
DB and the simulator on loopback seeded with its SIS side."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.e2e.conftest import Sis
from tests.factory import World, assessment, scenario_for, score, world, write_source

REPO = Path(__file__).resolve().parents[2]
WIDE = {"COLUMNS": "200"}  # rich tables are 80 columns wide when not on a terminal: keep cells whole


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def cli(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Ran:
    """``passback ARGS`` in this process, through ``passback.cli.main`` (exit codes, one-line errors)."""
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


def state_dump(home: Path) -> list[str]:
    """Every row of the SQLite state DB (to prove a failed command changed nothing)."""
    path = home / "state.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def small_world() -> World:
    """a-1 and a-2 by u-t1 (in the group), a-3 by u-t2 (not in the group); two students each."""
    rows = [assessment(id="a-1"), assessment(id="a-2", title="Lab report", assessment_type="Lab"),
            assessment(id="a-3", assigned_by="u-t2", title="Co-teacher quiz")]
    scores = [score(assessment_id=a, student_id=s, points_earned=p)
              for a in ("a-1", "a-2", "a-3") for s, p in (("u-s1", 7.0), ("u-s2", 9.5))]
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


@pytest.fixture
def sis(home: Path) -> Iterator[Sis]:
    with running_sis(small_world()) as s:
        yield s
