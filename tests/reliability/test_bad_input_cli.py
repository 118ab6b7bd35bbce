"""Bad input on the command line: each bad input is ONE line saying what to do (for ``doctor``: ONE
failed check in its report; for ``sync``: the summary plus ONE error line), a non-zero exit, and an
unchanged state DB."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from passback.store import districts as store
from tests.factory import scenario_for, world
from tests.reliability._districts import (
    closed_port,
    dump_tables,
    register_district,
    secret_of,
    state_engine,
    tls_server,
)
from tests.toolkit import cli as run_cli


def cli(*args: str) -> tuple[int, list[str]]:
    """``passback ARGS`` through the shared ``tests.toolkit.cli`` at the default (not a terminal) width;
    returns (exit status, the non-blank lines written to stdout and stderr)."""
    ran = run_cli(*args, env={"COLUMNS": None})
    return ran.code, ran.lines


@pytest.fixture
def registered(home, state_url) -> Iterator[str]:
    """d1 registered against a simulator with a valid source world; yields the simulator's URL."""
    from passback.simulator.server import SimulatorThread
    from tests.factory import write_source

    w = world()
    write_source(w, get_settings().source_db_url)
    scenario = Scenario(districts=[scenario_for(w, client_id="otus-d1", client_secret=secret_of("d1"))])
    with SimulatorThread(scenario) as server:
        register_district("d1", server.url)
        yield server.url


def assert_one_line_error(code: int, lines: list[str], *needles: str) -> str:
    """A pure error: exit status non-zero, ONE line, which says what happened and what to do."""
    assert code != 0, lines
    assert len(lines) == 1, "expected ONE line, got:\n" + "\n".join(lines)
    line = lines[0]
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in {line!r}"
    return line


def assert_report_with_one_error(code: int, lines: list[str], *needles: str, fix: str = "") -> str:
    """A check report (``doctor``): verdict lines (✔/✘) and fix lines (→); exactly ONE failed verdict,
    the whole of it on one line (not wrapped), saying what happened and what to check; exit non-zero."""
    assert code != 0, lines
    failed = [line for line in lines if line.startswith(("✘", "error:"))]
    assert len(failed) == 1, "expected ONE failed check, got:\n" + "\n".join(lines)
    stray = [line for line in lines if not line.lstrip().startswith(("✔", "✘", "→", "error:"))]
    assert not stray, "lines that are neither a verdict nor a fix (a wrapped line?):\n" + "\n".join(stray)
    for needle in needles:
        assert needle.lower() in failed[0].lower(), f"{needle!r} not in {failed[0]!r}"
    if fix:
        after = lines[lines.index(failed[0]) + 1 :]
        assert after and after[0].lstrip().startswith("→") and fix.lower() in after[0].lower(), lines
    return failed[0]


BAD_ARGS = [
    # (argv, what the line must say)
    (["doctor", "nope"], ["unknown district 'nope'", "passback district add"]),
    (["sync", "--district", "nope"], ["unknown district 'nope'", "passback district add"]),
    (["backfill", "nope", "--effective-date", "2026-09-01"], ["unknown district 'nope'"]),
    (["explain", "nope", "a-1"], ["unknown district 'nope'"]),
    (["district", "show", "nope"], ["unknown district 'nope'"]),
    (["district", "set", "nope", "--concurrency", "2"], ["unknown district 'nope'"]),
    (["mapping", "set", "nope", "Quiz=Quiz"], ["unknown district 'nope'"]),
    (["district", "set", "d1", "--effective-date", "2026-13-45"], ["2026-13-45", "YYYY-MM-DD"]),
    (["district", "set", "d1", "--effective-date", "next tuesday"], ["next tuesday", "YYYY-MM-DD"]),
    (["backfill", "d1", "--effective-date", "2026/09/01"], ["2026/09/01", "YYYY-MM-DD"]),
    (
        [
            "district",
            "add",
            "d9",
            "--name",
            "D9",
            "--base-url",
            "http://127.0.0.1:9/x",
            "--token-url",
            "http://127.0.0.1:9/t",
            "--client-id",
            "c",
            "--client-secret",
            "s",
            "--effective-date",
            "31/08/2026",
        ],
        ["31/08/2026", "YYYY-MM-DD"],
    ),
    (["district", "set", "d1", "--timezone", "Mars/Olympus_Mons"], ["Mars/Olympus_Mons", "IANA"]),
    (["district", "set", "d1", "--base-url", "ftp://sis.example"], ["ftp://sis.example", "http"]),
    (["mapping", "set", "d1", "Essay=cat-quiz"], ["'Essay' is not an Otus assessment type", "Quiz"]),
    (["mapping", "set", "d1", "Quiz"], ["TYPE=CATEGORY"]),
    (["mapping", "set", "d1", "Quiz=No Such Category"], ["is not a category in the SIS", "Quiz (cat-quiz)"]),
]


@pytest.mark.parametrize(("argv", "needles"), BAD_ARGS, ids=[" ".join(a[:3]) for a, _ in BAD_ARGS])
def test_bad_cli_input_is_one_line_and_changes_nothing(registered, argv: list[str], needles: list[str]) -> None:
    url = get_settings().state_db_url
    before = dump_tables(url)
    code, lines = cli(*argv)
    assert_one_line_error(code, lines, *needles)
    assert dump_tables(url) == before


def _point_at(base: str) -> None:
    store.update_district(
        state_engine(), "d1", base_url=f"{base}/d1/ims/oneroster/v1p1", token_url=f"{base}/d1/oauth/token"
    )


@pytest.mark.parametrize("where", ["closed port", "https to a plain-HTTP port", "self-signed certificate"])
def test_doctor_against_an_unreachable_or_untrusted_sis(registered, tmp_path, where: str) -> None:
    with contextlib.ExitStack() as stack:
        if where == "closed port":
            _point_at(f"http://127.0.0.1:{closed_port()}")
            # a loopback SIS that does not answer: most likely the simulator is not running (issue 13)
            needles = ["cannot reach the SIS", "district d1", "passback sim serve", "passback district show d1"]
        elif where == "https to a plain-HTTP port":
            _point_at(registered.replace("http://", "https://"))
            needles = ["cannot reach the SIS", "district d1", "tls", "certificate", "CA bundle"]
        else:
            _point_at(stack.enter_context(tls_server(tmp_path)))
            needles = ["cannot reach the SIS", "district d1", "tls", "certificate", "CA bundle"]
        url = get_settings().state_db_url
        before = dump_tables(url)
        code, lines = cli("doctor", "d1")
        assert_report_with_one_error(code, lines, *needles)
        assert dump_tables(url) == before


def test_doctor_without_an_otus_source_database(registered) -> None:
    """A misconfigured PASSBACK_SOURCE_URL (no such database) says which setting to fix."""
    Path(get_settings().source_db_url.removeprefix("sqlite:///")).unlink()
    url = get_settings().state_db_url
    before = dump_tables(url)
    code, lines = cli("doctor", "d1")
    assert_report_with_one_error(code, lines, "source", fix="PASSBACK_SOURCE_URL")
    assert dump_tables(url) == before


def cli_process(*args: str, **env: str) -> tuple[int, list[str], str]:
    """``python -m passback ARGS`` in a child process (what a person runs); returns (exit status, the
    non-blank lines of stdout + stderr, stdout).  Prefect talks to the test harness's API."""
    import os
    import subprocess

    from prefect.settings import PREFECT_API_URL

    environ = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), **env}
    environ.pop("PREFECT_LOGGING_LEVEL", None)  # the CLI's own default, as for a person at a terminal
    done = subprocess.run(
        [sys.executable, "-m", "passback", *args], capture_output=True, text=True, env=environ, timeout=240, check=False
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines, done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("where", ["closed port", "self-signed certificate"])
def test_sync_against_an_unreachable_or_untrusted_sis(prefect_api, registered, tmp_path, where: str) -> None:
    """The summary table, then ONE line with the district's error and what to check; exit status 1."""
    with contextlib.ExitStack() as stack:
        base = (
            f"http://127.0.0.1:{closed_port()}" if where == "closed port" else stack.enter_context(tls_server(tmp_path))
        )
        _point_at(base)
        url = get_settings().state_db_url
        before = dump_tables(url)
        code, lines, _ = cli_process("sync", "--district", "d1")
        after = dump_tables(url)
    assert code == 1, lines
    errors = [line for line in lines if "cannot reach the SIS" in line]
    assert len(errors) == 1, "the error should be said once, not:\n" + "\n".join(errors)
    advice_ends = "passback district show d1" if where == "closed port" else "CA bundle"  # the whole advice, one line
    assert "district d1" in errors[0] and "check" in errors[0] and advice_ends in errors[0], errors[0]
    noise = [line for line in lines if "Traceback" in line or "Warning" in line]
    assert not noise, noise
    # nothing changed, not even the run history: the CLI's reach check (passback.sync.reach) found the
    # only targeted SIS silent and stopped before a run started (a deployment run records the failure)
    assert after == before
