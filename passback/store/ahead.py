"""A stream's items produced on a thread of their own, a bounded number ahead of the consumer
(issue 16: the second core).  The ledger's batches come out of SQLite (``sqlite3`` steps and
pyarrow's CSV reader run without the GIL) or the PostgreSQL ADBC driver (fetches without the GIL)
while the diff matches the batch before.  Measured: two *SQLite* readers in one process do not
add up (both through the one ``sqlite3`` library: twice the CPU for the same wall), so one thread
reads, one item ahead."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_ITEM, _END, _ERROR = 0, 1, 2


def read_ahead(produce: Callable[[], Iterator[T]], depth: int = 1) -> Iterator[T]:
    """The items of ``produce()``, in order, produced on a worker thread at most ``depth`` items
    ahead of the one handed out (memory: ``depth`` + 2 items at a time).  An error in the producer
    is raised here, at the item where it happened; a consumer that stops early stops the producer
    (after the item it is making) and waits for it, so nothing is left reading."""
    slots: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        items = produce()
        try:
            for item in items:
                if not put((_ITEM, item)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((_ERROR, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=run, name="passback-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
            del value  # not kept alive while the next one is awaited
    finally:
        stop.set()
        worker.join()
