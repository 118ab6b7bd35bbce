"""Progress of the district runs of this process, for whoever watches (the CLI's terminal display).

Each run tells its listeners when a stage starts (``Steps.stage``), during the load how many writes
are done of how many planned, and when it is over.  Listeners are process-wide because a district
runs inside a Prefect flow whose parameters cannot carry a callback; a listener that fails is
dropped from that notification (it never fails a run).  No terminal code here: the CLI renders.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

log = logging.getLogger("passback.sync")

STAGES = ("pre-flight", "extract", "validate and plan", "guards", "load", "report")


class Listener(Protocol):
    def stage(self, district_id: str, stage: str) -> None: ...
    def writes(self, district_id: str, done: int, planned: int) -> None: ...
    def finished(self, district_id: str, status: str, writes: int) -> None: ...


_listeners: list[Listener] = []
_guard = threading.Lock()


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """Tell ``listener`` about every district run of this process while the block runs."""
    with _guard:
        _listeners.append(listener)
    try:
        yield listener
    finally:
        with _guard:
            _listeners.remove(listener)


def _tell(method: str, *args: object) -> None:
    with _guard:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            getattr(listener, method)(*args)
        except Exception as exc:  # noqa: BLE001 - watching a run never breaks it
            log.debug("progress listener %r failed: %s", listener, exc)


def stage(district_id: str, name: str) -> None:
    _tell("stage", district_id, name)


def finished(district_id: str, status: str, writes: int) -> None:
    _tell("finished", district_id, status, writes)


def writes_callback(district_id: str, also: Callable[[int, int], None] | None = None) -> Callable[[int, int], None]:
    """The load's ``on_progress``: the run's own callback (``also``) and this process's listeners."""

    def report(done: int, planned: int) -> None:
        if also is not None:
            also(done, planned)
        _tell("writes", district_id, done, planned)

    return report
