"""The CPU-heavy stages of a district (extract, validate and plan, report) run off the event loop.

The nightly flow runs several districts in one process and one event loop.  Run on the loop, one
district's pandas and Great Expectations work (seconds) stalls every other district's requests,
whose answers wait unread meanwhile.  Here those stages run in ONE worker thread of the process,
one stage at a time (Great Expectations is used by one stage at a time, as before), while the
loop keeps serving the other districts' requests; native code that releases the GIL (SQLite,
Arrow, numpy) even runs beside it on the second core.  The stage sees the caller's context
variables (Prefect's run context, its logger).  While several districts run, a small district's
validation and report go to the helper process instead, on the other core (``passback.sync.helper``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passback-cpu")


async def off_loop(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` in the CPU stage thread; the event loop runs on meanwhile."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_worker, lambda: context.run(fn, *args, **kwargs))
