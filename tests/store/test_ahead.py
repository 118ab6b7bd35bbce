"""The read-ahead of the ledger's batches (passback/store/ahead.py): the producer's items in order,
never more than ``depth`` ahead, its errors raised where they happened, and a consumer that stops
early leaves no thread reading and the producer closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from passback.store.ahead import read_ahead


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
