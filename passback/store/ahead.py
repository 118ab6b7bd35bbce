"""A stream's items produced on a thread of their own, ahead of the consumer (issue 16: the second
core).  The ledger's batches come out of SQLite (``sqlite3`` steps and pyarrow's CSV reader run
without the GIL) or the PostgreSQL ADBC driver (fetches without the GIL) while the rows are
classified (GX, holding the GIL) and the diff matches the batch before.  Measured: two *SQLite*
readers in one process do not add up (both through the one ``sqlite3`` library: twice the CPU for
the same wall), so one thread reads."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_ITEM, _END, _ERROR = 0, 1, 2


class ReadAhead(Generic[T]):
    """The items of ``produce()``, in order, made on a worker thread from ``start()`` on: it waits
    while ``items`` finished items are waiting *and* their ``size`` (bytes) reaches ``budget`` (so at
    most ``budget`` + one item's bytes ahead, or ``items`` items when ``budget`` is 0).  Iterate it
    once.  An error in the producer is raised to the consumer at the item where it happened;
    ``close()`` (also when the consumer stops early) stops the producer after the item it is making,
    waits for it and drops what was made."""

    def __init__(
        self,
        produce: Callable[[], Iterator[T]],
        *,
        items: int = 1,
        budget: int = 0,
        size: Callable[[T], int] | None = None,
    ) -> None:
        self._produce, self._items, self._budget, self._size = produce, max(items, 1), budget, size
        self._made: deque[tuple[int, Any, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> ReadAhead[T]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="passback-read-ahead", daemon=True)
            self._thread.start()
        return self

    def _room(self) -> bool:
        return len(self._made) < self._items or self._bytes < self._budget

    def _put(self, kind: int, value: Any, size: int = 0) -> bool:
        with self._cond:
            while kind == _ITEM and not self._stopped and not self._room():
                self._cond.wait()
            if self._stopped:
                return False
            self._made.append((kind, value, size))
            self._bytes += size
            self._cond.notify_all()
            return True

    def _run(self) -> None:
        items = self._produce()
        try:
            for item in items:
                if not self._put(_ITEM, item, self._size(item) if self._size else 0):
                    return
            self._put(_END, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(_ERROR, exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[T]:
        self.start()
        try:
            while True:
                with self._cond:
                    while not self._made:
                        self._cond.wait()
                    kind, value, size = self._made.popleft()
                    self._bytes -= size
                    self._cond.notify_all()
                if kind == _END:
                    return
                if kind == _ERROR:
                    raise value
                yield value
                del value  # not kept alive while the next one is awaited
        finally:
            self.close()

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._made.clear()
            self._bytes = 0
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()


def read_ahead(produce: Callable[[], Iterator[T]], depth: int = 1) -> Iterator[T]:
    """``produce()``'s items, made on a worker thread at most ``depth`` items ahead of the one handed
    out (memory: ``depth`` + 2 items), from the first ``next()`` on."""
    return iter(ReadAhead(produce, items=depth))
