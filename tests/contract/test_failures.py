"""Transient failures against the real simulator: 429 + Retry-After, 5xx within the attempt budget,
an ambiguous failure after the write landed, and a SIS that cannot be reached at all."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from passback.oneroster import OneRosterClient, RetryPolicy, SisUnreachable, TransientExhausted
from tests.contract.helpers import SECRETS, line_item, tenant_urls
from tests.toolkit import Sis


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(seconds)


def puts(sim: Sis) -> list[int | None]:
    return [r["status"] for r in sim.requests("d1") if r["method"] == "PUT"]


async def test_a_429_is_waited_out_for_retry_after_then_resent(
    make_client: Callable[..., OneRosterClient], sim: Sis
) -> None:
    sleep = RecordingSleep()
    sim.faults(rate_limit_per_s=1, rate_burst=1)  # one write now, the next in a second
    async with make_client(retry=RetryPolicy(base_delay=0.01, max_delay=0.2, sleep=sleep)) as client:
        started = time.monotonic()
        first = await client.put_line_item("li-1", line_item("li-1"))
        second = await client.put_line_item("li-2", line_item("li-2", title="Decimals quiz"))
        elapsed = time.monotonic() - started
        assert first.ok and second.ok and second.attempts == 2
        assert client.stats.throttled == 1
    assert puts(sim) == [201, 429, 201]
    assert max(sleep.waits) >= 0.9 and elapsed >= 0.9  # Retry-After: 1 (rounded up, at least 1 s)
    assert sim.stats()["tenants"]["d1"]["throttled_429"] == 1


async def test_5xx_answers_are_retried_and_the_writes_land(
    make_client: Callable[..., OneRosterClient], sim: Sis
) -> None:
    async with make_client(concurrency=1) as client:
        await client.categories()  # token first
        sim.faults(error_rate=0.3, seed=11)
        items = [(f"li-{i}", line_item(f"li-{i}", title=f"Quiz {i}")) for i in range(8)]
        outcomes = [o async for o in client.put_many("lineItem", items)]
        retried = sum(client.stats.retries.values())
    assert all(o.ok and o.created for o in outcomes) and len(outcomes) == 8
    assert retried > 0 and retried == sum(1 for s in puts(sim) if s in (500, 503))
    state = sim.state()
    assert len(state["lineItems"]) == 8 and state["duplicate_line_items"] == 0


async def test_a_failure_after_the_write_landed_is_resent_without_a_duplicate(
    make_client: Callable[..., OneRosterClient], sim: Sis
) -> None:
    async with make_client(concurrency=1) as client:
        await client.categories()
        sim.faults(error_rate=0.4, fault_phase="after", seed=1)
        items = [(f"li-{i}", line_item(f"li-{i}", title=f"Quiz {i}")) for i in range(6)]
        outcomes = [o async for o in client.put_many("lineItem", items)]
    assert all(o.ok for o in outcomes)
    assert {500, 503} & set(puts(sim))  # some answers were lost after the write was stored
    assert any(o.attempts > 1 and not o.created for o in outcomes)  # so the resend replaced it: 200, not 201
    state = sim.state()
    assert len(state["lineItems"]) == 6 and state["duplicate_line_items"] == 0


async def test_5xx_beyond_the_attempt_budget_raises_transient_exhausted(
    make_client: Callable[..., OneRosterClient], sim: Sis
) -> None:
    async with make_client(retry=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)) as client:
        await client.categories()
        sim.faults(error_rate=1.0)
        with pytest.raises(TransientExhausted) as caught:
            await client.put_line_item("li-1", line_item())
    assert caught.value.attempts == 4 and caught.value.district_id == "d1"
    assert "district d1" in str(caught.value) and "rerun later" in str(caught.value)
    assert len(puts(sim)) == 4 and set(puts(sim)) <= {500, 503}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("token_reachable", [False, True], ids=["nothing-answers", "api-base-unreachable"])
async def test_an_unreachable_sis_raises_sis_unreachable_saying_what_to_check(sim: Sis, token_reachable: bool) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    api, _ = tenant_urls(dead, "d1")
    _, token_url = tenant_urls(sim.url if token_reachable else dead, "d1")
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
    async with OneRosterClient(
        "d1", api, token_url, "otus-d1", SECRETS["d1"], retry=retry, timeout=httpx.Timeout(2.0, connect=1.0)
    ) as client:
        with pytest.raises(SisUnreachable) as caught:
            await client.categories()
    text = str(caught.value)
    assert caught.value.district_id == "d1" and "district d1" in text
    assert dead.removeprefix("http://") in text and "check" in text
    assert SECRETS["d1"] not in text
