"""Progress: a district run tells the process's listeners each stage and, during the load, writes done /
planned; the CLI draws them on a terminal only (nothing when piped or with --json)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from passback.cli.progress import TerminalProgress, shown
from passback.sync import progress
from passback.sync.progress import STAGES
from tests.cli.conftest import running_sis, small_world
from tests.e2e.conftest import register, run_sync


class Heard:
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def stage(self, district_id: str, stage: str) -> None:
        self.events.append(("stage", district_id, stage))

    def writes(self, district_id: str, done: int, planned: int) -> None:
        self.events.append(("writes", district_id, done, planned))

    def finished(self, district_id: str, status: str, writes: int) -> None:
        self.events.append(("finished", district_id, status, writes))


class Broken(Heard):
    def stage(self, district_id: str, stage: str) -> None:
        raise RuntimeError("a listener that fails")


def test_a_run_tells_its_stages_and_writes_and_a_failing_listener_breaks_nothing(home: Path) -> None:
    heard = Heard()
    with running_sis(small_world()) as sis:
        register("d1", sis.url)
        with progress.listening(heard), progress.listening(Broken()):
            summary = run_sync()
        again = run_sync()  # no listener any more: nothing heard
    assert summary.status == "completed" and summary.writes == 6 and again.writes == 0
    stages = [e[2] for e in heard.events if e[0] == "stage"]
    assert stages == list(STAGES)
    writes = [e for e in heard.events if e[0] == "writes"]
    assert writes and all(e[1] == "d1" and 0 <= e[2] <= e[3] == 6 for e in writes)
    assert writes[-1][2] == 6  # the last word: every planned write done
    assert heard.events[-1] == ("finished", "d1", "completed", 6)
    load_at = heard.events.index(("stage", "d1", "load"))
    assert all(heard.events.index(e) > load_at for e in writes)


def test_a_dry_run_has_no_load_stage(home: Path) -> None:
    heard = Heard()
    with running_sis(small_world()) as sis:
        register("d1", sis.url)
        with progress.listening(heard):
            run_sync(dry_run=True)
    assert [e[2] for e in heard.events if e[0] == "stage"] == [s for s in STAGES if s != "load"]
    assert heard.events[-1] == ("finished", "d1", "planned", 0)


def test_the_terminal_shows_stage_writes_rate_and_the_outcome() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    display = TerminalProgress(console, "starting Prefect…")
    display.stage("[red]x", "load")  # a district id is shown as text, never as markup
    display.writes("[red]x", 250, 1000)
    console.print(display.progress.get_renderable())
    display.finished("[red]x", "completed", 1000)
    console.print(display.progress.get_renderable())
    text = out.getvalue()
    assert "starting Prefect" not in text  # the opening line goes once a district reports
    assert "[red]x: load" in text and "250/1000" in text
    assert "[red]x: completed in" in text and "1,000 writes" in text and "✔" in text


def test_nothing_is_shown_when_not_a_terminal() -> None:
    piped = Console(file=io.StringIO(), force_terminal=False)
    with shown(True, console=piped) as display:
        progress.stage("d1", "load")
    assert display is None and piped.file.getvalue() == ""
    terminal = Console(file=io.StringIO(), force_terminal=True)
    with shown(False, console=terminal) as display:  # --json
        progress.stage("d1", "load")
    assert display is None and terminal.file.getvalue() == ""


def test_prefects_usage_notice_never_interrupts_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect._internal.analytics.enabled import is_telemetry_enabled

    from passback.cli import _prefect_defaults

    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    for ci in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD", "CIRCLECI", "TRAVIS"):
        monkeypatch.delenv(ci, raising=False)  # Prefect is silent on CI anyway: this is the terminal's case
    assert is_telemetry_enabled()  # what a person's terminal gets from Prefect alone: the notice, then events
    before = dict(os.environ)
    try:
        _prefect_defaults()  # what `passback` sets before it imports Prefect
        assert not is_telemetry_enabled()
    finally:  # the other defaults it sets stay out of the tests that follow
        os.environ.clear()
        os.environ.update(before)
