"""put_many: a fixed pool of workers, bounded concurrency, early stop, failures per item and for all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from passback.oneroster import CredentialsRejected, OneRosterClient, TransientExhausted
from tests.client.helpers import API, StrictSIS, status_body

Make = Callable[..., OneRosterClient]


class Recorder:
    """An async handler for every PUT /results/*: tracks concurrency, answers by a rule."""

    def __init__(self, rule: Callable[[str], httpx.Response] | None = None, delay: float = 0.002) -> None:
        self.inflight = 0
        self.max_inflight = 0
        self.seen: list[str] = []
        self.rule = rule or (lambda sid: httpx.Response(201))
        self.delay = delay

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            await asyncio.sleep(self.delay)
            sid = request.url.path.rsplit("/", 1)[-1]
            self.seen.append(sid)
            return self.rule(sid)
        finally:
            self.inflight -= 1


def route_results(sis: StrictSIS, handler: Recorder) -> None:
    original = sis.handler

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith(API + "/results/"):
            sis.requests.append(request)
            return await handler(request)
        return await original(request)

    sis.handler = handle  # type: ignore[method-assign]


def items(n: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"r{i}", {"result": {"sourcedId": f"r{i}", "score": i}}) for i in range(n)]


@pytest.mark.parametrize("concurrency", [1, 4, 8])
async def test_writes_everything_with_bounded_concurrency(sis: StrictSIS, make_client: Make, concurrency: int) -> None:
    rec = Recorder()
    route_results(sis, rec)
    async with make_client(concurrency=concurrency) as client:
        outcomes = [o async for o in client.put_many("result", items(60))]
    assert sorted(o.sourced_id for o in outcomes) == sorted(f"r{i}" for i in range(60))
    assert all(o.ok and o.created for o in outcomes)
    assert rec.max_inflight == concurrency
    assert sorted(rec.seen) == sorted(f"r{i}" for i in range(60))


async def test_items_are_pulled_lazily_by_a_fixed_pool(sis: StrictSIS, make_client: Make) -> None:
    rec = Recorder(delay=0)
    route_results(sis, rec)
    pulled = 0
    tasks_seen = 0

    def lazy() -> Iterator[tuple[str, dict[str, Any]]]:
        nonlocal pulled, tasks_seen
        for i in range(3000):
            pulled += 1
            tasks_seen = max(tasks_seen, len(asyncio.all_tasks()))
            yield f"r{i}", {"sourcedId": f"r{i}"}

    async with make_client(concurrency=4) as client:
        gen = client.put_many("result", lazy())
        first = await anext(gen)
        assert first.ok and pulled <= 2 * 4 + 1
        rest = [o async for o in gen]
    assert len(rest) == 2999
    assert tasks_seen <= 4 + 1  # the 4 workers and the test itself, never one task per item


async def test_should_stop_is_checked_before_each_request(sis: StrictSIS, make_client: Make) -> None:
    rec = Recorder()
    route_results(sis, rec)
    got: list[Any] = []
    async with make_client(concurrency=4) as client:
        async for outcome in client.put_many("result", items(500), should_stop=lambda: len(got) >= 10):
            got.append(outcome)
    assert 10 <= len(rec.seen) <= 10 + 2 * 4  # in flight + done but not yet consumed
    assert len(got) == len(rec.seen)


async def test_closing_early_cancels_the_rest(sis: StrictSIS, make_client: Make) -> None:
    rec = Recorder(delay=0.01)
    route_results(sis, rec)
    async with make_client(concurrency=4) as client:
        async with contextlib.aclosing(client.put_many("result", items(500))) as stream:
            async for _ in stream:
                break
        sent = len(sis.api_requests())
        await asyncio.sleep(0.05)
        assert len(sis.api_requests()) == sent <= 1 + 4
        assert rec.inflight == 0


async def test_rejections_come_back_as_outcomes(sis: StrictSIS, make_client: Make) -> None:
    def rule(sid: str) -> httpx.Response:
        if sid == "r3":
            return httpx.Response(422, json=status_body(422, "invalid_data", "student not enrolled in the class"))
        return httpx.Response(200)

    route_results(sis, Recorder(rule))
    async with make_client() as client:
        outcomes = {o.sourced_id: o async for o in client.put_many("result", items(8))}
    assert not outcomes["r3"].ok and outcomes["r3"].rejection is not None
    assert outcomes["r3"].rejection.description == "student not enrolled in the class"
    assert all(o.ok for sid, o in outcomes.items() if sid != "r3")


async def test_an_item_that_exhausts_its_retries_is_reported_failed(sis: StrictSIS, make_client: Make) -> None:
    route_results(sis, Recorder(lambda sid: httpx.Response(503 if sid == "r2" else 201)))
    async with make_client(concurrency=2) as client:
        outcomes = {o.sourced_id: o async for o in client.put_many("result", items(10))}
    failed = outcomes["r2"]
    assert not failed.ok and failed.error is not None and failed.attempts == 6 and failed.http_status == 503
    assert "d1" in failed.error
    assert sum(o.ok for o in outcomes.values()) == 9


async def test_many_failures_in_a_row_stop_the_batch(sis: StrictSIS, make_client: Make) -> None:
    route_results(sis, Recorder(lambda sid: httpx.Response(500)))
    async with make_client(concurrency=2) as client:
        with pytest.raises(TransientExhausted, match="in a row"):
            async for _ in client.put_many("result", items(100)):
                pass
    assert len(sis.api_requests()) < 100 * 6 / 4


async def test_credentials_rejected_stops_every_worker(sis: StrictSIS, make_client: Make) -> None:
    route_results(sis, Recorder(lambda sid: httpx.Response(401)))
    async with make_client(concurrency=4) as client:
        with pytest.raises(CredentialsRejected):
            async for _ in client.put_many("result", items(200)):
                pass
        await asyncio.sleep(0.02)
    assert len(sis.api_requests()) <= 4 * 2
    assert sis.token_calls <= 2


async def test_empty_batch(sis: StrictSIS, make_client: Make) -> None:
    async with make_client() as client:
        assert [o async for o in client.put_many("lineItem", [])] == []
    assert sis.requests == []
