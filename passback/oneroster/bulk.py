"""Bounded-concurrency bulk writes: a fixed pool of workers pulling from one shared iterator.

Not one task per item: ``workers`` coroutines each take the next item from the (lazy) iterator,
so 100k items cost 100k iterator steps and ``workers`` tasks.  Outcomes are yielded in completion
order.  ``should_stop`` is checked before each new request; closing the generator early
(``contextlib.aclosing`` or breaking out of it) cancels the requests in flight — safe, because a
PUT is idempotent and nothing is recorded for a write that was not acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from passback.oneroster.errors import TransientExhausted
from passback.oneroster.outcomes import WriteOutcome

Put = Callable[[str, dict[str, Any]], Awaitable[WriteOutcome]]
_DONE = object()


async def run_writes(
    put: Put,
    items: Iterable[tuple[str, dict[str, Any]]],
    *,
    workers: int,
    district_id: str,
    should_stop: Callable[[], bool] | None = None,
    max_consecutive_failures: int | None = None,
) -> AsyncIterator[WriteOutcome]:
    """Yield the outcome of ``put(sourced_id, payload)`` for each item, ``workers`` at a time.

    An item whose retries are exhausted yields an outcome with ``error`` and ``exhausted`` set (not
    written; the next run retries it).  ``max_consecutive_failures`` such outcomes in a row (default
    ``2 * workers``) mean the SIS is down: TransientExhausted is raised.  Any other error
    (CredentialsRejected, AccessForbidden, ...) stops every worker and is raised.
    """
    source = iter(items)
    if isinstance(items, list | tuple):
        workers = max(min(workers, len(items)), 1)
    limit = max_consecutive_failures or 2 * workers
    out: asyncio.Queue[Any] = asyncio.Queue()
    room = asyncio.Semaphore(workers)  # back-pressure: at most `workers` outcomes not yet consumed
    halted = False

    async def worker() -> None:
        try:
            await room.acquire()
            for sourced_id, payload in source:
                if halted or (should_stop is not None and should_stop()):
                    return
                try:
                    outcome = await put(sourced_id, payload)
                except TransientExhausted as exc:
                    outcome = WriteOutcome(
                        sourced_id, False, exc.status or 0, attempts=exc.attempts, error=str(exc), exhausted=True
                    )
                out.put_nowait(outcome)
                await room.acquire()
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            out.put_nowait(exc)
        finally:
            out.put_nowait(_DONE)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    finished = 0
    consecutive: list[WriteOutcome] = []
    try:
        while finished < len(tasks):  # each worker posts _DONE exactly once
            item = await out.get()
            if item is _DONE:
                finished += 1
                continue
            if isinstance(item, BaseException):
                raise item
            room.release()
            if item.exhausted:
                consecutive.append(item)
                if len(consecutive) >= limit:
                    raise TransientExhausted(
                        f"district {district_id}: {len(consecutive)} writes in a row exhausted their retries; the SIS "
                        f"is down or overloaded — stopped, rerun later (last: {item.error})",
                        district_id=district_id,
                        attempts=item.attempts,
                        status=item.http_status or None,
                    )
            else:
                consecutive.clear()
            yield item
    finally:
        halted = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
