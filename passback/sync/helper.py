"""The helper process: when one process runs several districts at once (the nightly's subflows), a
small district's Great Expectations validation and its report are done by ONE helper process, on the
second core, while this process goes on with the other districts' requests, plans and writes.

A process runs its districts on one event loop and its CPU-heavy stages in one thread
(``tasks.cpu``), so they share one core (the GIL).  In the ``districts`` benchmark (20 small
districts, 8 at once) the validation was ~10 % and the report (row outcomes, GX's Data Docs, its
page) ~25 % of that core's work.  The helper is used only while several districts run
(``several_at_once``: it costs its own imports, ~3 s of CPU once per process, more than a lone
district's validation and report) and only for small districts (``MAX_ROWS`` scores: their frames
are pickled over a pipe; a large district's must not be copied: ``noop-L`` stays under 2 GB), not
for tiny ones (``MIN_ROWS``: a handful of rows is validated and reported here in less time than the
round trip, and a night of only tiny districts never pays for starting the helper).

The helper is started with ``spawn`` (the parent runs threads: never ``fork`` it) on first use and
lives as long as the process.  Its answers are awaited on the event loop, never in the CPU stage
thread (which would then sit idle while the helper works through other districts' jobs).  Whatever
goes wrong there (it died, a value could not be sent, the work raised), the work is done in this
process instead — where an error of the work itself is raised as without the helper — and after a
death the next use starts a new helper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from typing import Any, TypeVar

log = logging.getLogger("passback.sync")

MIN_ROWS = 500  # fewer scores: validated and reported here in less than the round trip (and the helper's start)
MAX_ROWS = 250_000  # more scores: not copied to the helper (~30 MB pickled at this size)

R = TypeVar("R")
_several: ContextVar[bool] = ContextVar("passback_several_districts", default=False)
_pool: ProcessPoolExecutor | None = None
done_by_helper = 0  # jobs the helper did in this process's life (observable by tests)


@contextlib.contextmanager
def several_at_once() -> Iterator[None]:
    """While inside, the district runs started in this context may use the helper."""
    token = _several.set(True)
    try:
        yield
    finally:
        _several.reset(token)


def wanted(rows: int) -> bool:
    """Hand the work of a district with ``rows`` scores to the helper?  Several districts run, and it
    is small, but not so small that sending it costs more than doing it here."""
    return _several.get() and MIN_ROWS <= rows <= MAX_ROWS


class HelperGone(RuntimeError):
    """The helper gave no answer (it died, a value could not be sent, the function raised there):
    do the work here."""


async def run(district_id: str, fn: Callable[..., R], *args: Any) -> R:
    """``fn(*args)`` in the helper, awaited on the event loop (nothing else waits for it).
    ``HelperGone`` when no answer came back — the helper died, a value could not be sent, or ``fn``
    itself raised: the caller does the work here, where an error of ``fn`` is raised again."""
    global _pool, done_by_helper
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        result = await asyncio.wrap_future(_pool.submit(fn, *args))
    except Exception as exc:
        log.warning("district %s: the helper process did not answer (%s); done here instead", district_id, exc)
        if isinstance(exc, BrokenProcessPool):
            _pool = None  # the next use starts a new helper
        raise HelperGone(str(exc)) from exc
    done_by_helper += 1
    return result
