"""The read-ahead of the ledger's batches (passback/store/ahead.py): the producer's items in order,
never more than ``depth`` ahead, its errors raised where they happened, and a consumer that stops
early leaves no thread reading and the producer closed; a byte budget bounds what is read ahead (the ledger prefetched while the rows
are classified)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passback.domain.plan import LEDGER_COLUMNS
from passback.store import ledger
from passback.store.ahead import ReadAhead, read_ahead
from passback.store.db import get_engine


def test_items_arrive_in_order_and_made_on_another_thread() -> None:
    makers: set[str] = set()

    def produce() -> Iterator[int]:
        for i in range(1000):
            makers.add(threading.current_thread().name)
            yield i

    assert list(read_ahead(produce, depth=3)) == list(range(1000))
    assert makers == {"passback-read-ahead"}


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_the_producer_is_never_more_than_depth_items_ahead(depth: int) -> None:
    made = 0
    gaps: list[int] = []

    def produce() -> Iterator[int]:
        nonlocal made
        for i in range(50):
            made += 1
            yield i

    for handed, item in enumerate(read_ahead(produce, depth=depth), start=1):
        assert item == handed - 1
        gaps.append(made - handed)  # made but not yet handed out (the one being made counts as made)
    assert max(gaps) <= depth + 1
    assert made == 50


def test_an_error_is_raised_at_the_item_where_it_happened() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("the disk went away")

    got: list[int] = []
    with pytest.raises(OSError, match="the disk went away"):
        for item in read_ahead(produce):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_producer() -> None:
    closed = threading.Event()
    made = 0

    def produce() -> Iterator[int]:
        nonlocal made
        try:
            for i in range(10_000):
                made += 1
                yield i
        finally:
            closed.set()

    before = threading.active_count()
    stream = read_ahead(produce, depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert closed.is_set()  # closed by the time close() returned: the thread was joined
    assert threading.active_count() == before
    assert made <= 3 + 2 + 1


def test_a_byte_budget_bounds_what_waits_and_close_drops_it() -> None:
    made = 0

    def produce() -> Iterator[bytes]:
        nonlocal made
        for _ in range(100):
            made += 1
            yield b"x" * 30

    ahead = ReadAhead(produce, items=1, budget=100, size=len).start()
    deadline = time.monotonic() + 10
    while made < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert made == 5  # 4 waiting (120 bytes: the budget reached) and the 5th made, waiting for room
    ahead.close()
    assert made == 5 and ahead._bytes == 0 and not ahead._made


def test_prefetched_ledger_batches_are_the_streamed_ones(tmp_path: Path) -> None:
    from tests.store.test_sqlite_read import _fill

    url, _ = _fill(tmp_path / "state.db", 3000, seed=11)
    engine = get_engine(url)

    def rows(batches: Any) -> list[tuple[Any, ...]]:
        return [r for b in batches for r in zip(*(b[c].to_pylist() for c in LEDGER_COLUMNS), strict=True)]

    for kind in ("result", "lineItem"):
        streamed = rows(ledger.ledger_batches(engine, "d1", kind))
        assert streamed and rows(ledger.prefetched_batches(engine, "d1", kind, budget=1)) == streamed
    unread = ledger.prefetched_batches(engine, "d1", "result", budget=1)
    unread.close()  # never iterated (nothing desired): the reader stops, what it read is dropped
    assert unread._thread is not None and not unread._thread.is_alive() and not unread._made
