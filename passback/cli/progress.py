"""What a long command shows while it runs, in a terminal only: per district the stage it is in, and
during the load writes done / planned with the rate and an ETA (rich, on stderr).  Piped output and
``--json`` get nothing extra.  The runs tell ``passback.sync.progress``; this renders it."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from passback.cli.common import console_err, safe


class _Mark(ProgressColumn):
    """A spinner while the district runs; ✔ or ✘ when it is over."""

    def __init__(self) -> None:
        super().__init__()
        self._spinner = SpinnerColumn()

    def render(self, task: Task) -> RenderableType:
        mark = task.fields.get("mark")
        return Text.from_markup(mark) if mark else self._spinner.render(task)


class _DuringLoad(ProgressColumn):
    """Shows ``column`` only while the district's writes are being sent."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self.column = column

    def render(self, task: Task) -> RenderableType:
        return self.column.render(task) if task.fields.get("loading") and task.total else Text("")


class _Rate(ProgressColumn):
    """writes per second over rich's recent samples."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} writes/s" if speed else "", style="progress.data.speed")


class TerminalProgress:
    """A ``passback.sync.progress`` listener drawing one line per district (and one while Prefect starts)."""

    def __init__(self, console: Console, opening: str | None) -> None:
        self.progress = Progress(
            _Mark(),
            TextColumn("{task.description}"),
            _DuringLoad(BarColumn(bar_width=30)),
            _DuringLoad(MofNCompleteColumn()),
            _DuringLoad(_Rate()),
            _DuringLoad(TimeRemainingColumn()),
            console=console,
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._opening = self.progress.add_task(opening, total=None) if opening else None

    def _task(self, district_id: str) -> TaskID:
        with self._lock:
            if self._opening is not None:  # the flow engine is up: its line has done its job
                self.progress.remove_task(self._opening)
                self._opening = None
            if district_id not in self._tasks:
                self._tasks[district_id] = self.progress.add_task(f"{safe(district_id)}: starting", total=None)
                self._started[district_id] = time.monotonic()
            return self._tasks[district_id]

    def stage(self, district_id: str, stage: str) -> None:
        self.progress.update(
            self._task(district_id), description=f"{safe(district_id)}: {stage}", loading=stage == "load"
        )

    def writes(self, district_id: str, done: int, planned: int) -> None:
        if planned:
            self.progress.update(self._task(district_id), total=planned, completed=done)

    def finished(self, district_id: str, status: str, writes: int) -> None:
        task = self._task(district_id)
        seconds = time.monotonic() - self._started.get(district_id, time.monotonic())
        colour, mark = ("red", "[red]✘[/red]") if status == "failed" else ("green", "[green]✔[/green]")
        self.progress.update(
            task,
            description=f"{safe(district_id)}: [{colour}]{status}[/{colour}] in {seconds:.0f} s, {writes:,} writes",
            loading=False,
            mark=mark,
        )
        self.progress.stop_task(task)


@contextlib.contextmanager
def shown(enabled: bool = True, console: Console | None = None) -> Iterator[TerminalProgress | None]:
    """Show the district runs of the block on ``console`` (stderr) when it is a terminal and ``enabled``."""
    from passback.sync import progress as sync_progress

    console = console or console_err
    if not enabled or not console.is_terminal or os.environ.get("PASSBACK_PROGRESS") == "0":
        yield None
        return
    opening = (
        "starting Prefect's temporary API (set PREFECT_API_URL to use a Prefect server)…"
        if not os.environ.get("PREFECT_API_URL")
        else "connecting to the Prefect API…"
    )
    display = TerminalProgress(console, opening)
    with display.progress, sync_progress.listening(display), _logs_above(display):
        yield display


@contextlib.contextmanager
def _logs_above(display: TerminalProgress) -> Iterator[None]:
    """The library's warnings print above the live lines: its stderr handler writes through rich's
    redirected ``sys.stderr`` while they show."""
    handlers = [
        h
        for h in logging.getLogger("passback").handlers
        if getattr(h, "passback_cli", False) and isinstance(h, logging.StreamHandler)
    ]
    before = [h.stream for h in handlers]
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler, stream in zip(handlers, before, strict=True):
            handler.setStream(stream)
