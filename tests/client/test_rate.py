"""The shared gate: no self-throttling without 429, one shared pause on 429, AIMD pacing, a ceiling."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from passback.oneroster import AdaptiveRate, OneRosterClient
from passback.oneroster.rate import RateGate

from .conftest import FakeClock, StrictSIS

D = AdaptiveRate().decrease


def gate(clock: FakeClock, ceiling: float | None = None, **tuning: float) -> RateGate:
    return RateGate(ceiling, sleep=clock.sleep, clock=clock.now, tuning=AdaptiveRate(**tuning))


async def test_without_429_nothing_waits(clock: FakeClock) -> None:
    g = gate(clock)
    for _ in range(1000):
        await g.acquire()
        g.on_success()
    assert clock.sleeps == [] and g.rate is None


async def test_ceiling_paces_evenly(clock: FakeClock) -> None:
    g = gate(clock, ceiling=10.0)
    starts = []
    for _ in range(5):
        starts.append(await g.acquire())
    assert [round(b - a, 6) for a, b in zip(starts, starts[1:], strict=False)] == [0.1] * 4


async def test_429_pauses_everyone_until_retry_after(clock: FakeClock) -> None:
    g = gate(clock)
    sent = await g.acquire()
    g.on_throttled(sent, 2.0)
    assert g.paused_until == pytest.approx(clock.t + 2.0)
    t0 = clock.t
    await g.acquire()
    assert clock.t - t0 == pytest.approx(2.0)


async def test_429_lowers_rate_to_below_observed_acceptance(clock: FakeClock) -> None:
    g = gate(clock, decrease=0.9)
    await run_at(g, clock, 40, 2)
    g.on_throttled(clock.t, 1.0)
    assert g.rate == pytest.approx(0.9 * 40, rel=0.05)
    assert g.congestion_events == 1


async def test_429s_from_one_burst_decrease_once(clock: FakeClock) -> None:
    g = gate(clock)
    for _ in range(40):
        await clock.sleep(0.025)
        g.on_success()
    sent = [await g.acquire() for _ in range(4)]
    for s in sent:
        g.on_throttled(s, 1.0)
    assert g.congestion_events == 1


async def run_at(g: RateGate, clock: FakeClock, per_s: float, seconds: float) -> None:
    for _ in range(int(per_s * seconds)):
        await clock.sleep(1.0 / per_s)
        g.on_success()


async def test_after_the_first_429_the_rate_grows_fast(clock: FakeClock) -> None:
    g = gate(clock, slow_start=1.25, slow_start_s=0.5)
    await run_at(g, clock, 40, 1)
    g.on_throttled(clock.t, 0.0)
    low = g.rate or 0
    await run_at(g, clock, 40, 2.1)
    assert g.rate == pytest.approx(low * 1.25**4, rel=0.01)


async def test_after_the_second_429_the_rate_probes_slowly(clock: FakeClock) -> None:
    g = gate(clock)
    for _ in range(2):  # the first 429 starts slow start, the second ends it
        await run_at(g, clock, 40, 1)
        g.on_throttled(clock.t, 0.0)
    low = g.rate or 0
    await run_at(g, clock, 80, 3.01)
    assert g.rate == pytest.approx(low * AdaptiveRate().probe ** 3, rel=0.02)
    before = g.rate or 0
    g.on_throttled(clock.t, 0.0)
    assert (g.rate or 0) <= before  # never above the rate that just got a 429


async def test_from_the_third_429_the_rate_holds_under_the_limit_then_probes(clock: FakeClock) -> None:
    t = AdaptiveRate(increase_step=0.5, quiet_period_s=1000, hold_s=10)
    g = gate(clock, increase_step=t.increase_step, quiet_period_s=t.quiet_period_s, hold_s=t.hold_s)
    for _ in range(2):
        await run_at(g, clock, 40, 1)
        g.on_throttled(clock.t, 0.0)
    await run_at(g, clock, 30, 3)
    g.on_throttled(clock.t, 0.0)
    assert g.limit == pytest.approx(30, rel=0.05)  # the acceptance rate over the whole cycle
    assert g.rate == pytest.approx(D * g.limit, rel=0.01)
    await run_at(g, clock, 30, 5)  # climbs back to the plateau within seconds and holds there
    assert g.rate == pytest.approx(t.plateau * g.limit, rel=0.01)
    plateau = g.rate
    await run_at(g, clock, 30, 10)  # after hold_s without a 429: additive probing above it
    assert plateau < (g.rate or 0) <= plateau + t.increase_step * 6


async def test_quiet_periods_speed_up_recovery(clock: FakeClock) -> None:
    g = gate(clock, increase_step=0.25, quiet_period_s=5.0)
    await run_at(g, clock, 10, 1)
    g.on_throttled(clock.t, 0.0)
    await run_at(g, clock, 10, 2)
    g.on_throttled(clock.t, 0.0)
    low = g.rate or 0
    await run_at(g, clock, 10, 30)
    assert (g.rate or 0) - low > 0.25 * 30 * 4


async def test_rate_never_exceeds_the_configured_ceiling(clock: FakeClock) -> None:
    g = gate(clock, ceiling=5.0, increase_step=10.0)
    for _ in range(100):
        await g.acquire()
        g.on_success()
    assert g.rate == 5.0


async def test_client_429_engages_the_shared_gate(sis: StrictSIS, make_client: Callable[..., OneRosterClient],
                                                  clock: FakeClock) -> None:
    sis.on("PUT", "/results/r-1", *[httpx.Response(200)] * 10, httpx.Response(429, headers={"Retry-After": "3"}),
           httpx.Response(200))
    async with make_client() as client:
        for _ in range(10):
            await client.put_result("r-1", {"sourcedId": "r-1"})
            await clock.sleep(0.05)
        assert client.gate.rate is None  # no 429 yet: no pacing at all
        await client.put_result("r-1", {"sourcedId": "r-1"})
        assert client.gate.rate is not None and client.gate.congestion_events == 1
    assert client.stats.throttled == 1 and clock.sleeps[-1] == pytest.approx(3.0)


async def test_a_429_before_any_success_pauses_without_guessing_a_rate(
        sis: StrictSIS, make_client: Callable[..., OneRosterClient], clock: FakeClock) -> None:
    sis.on("PUT", "/results/r-1", httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200))
    async with make_client() as client:
        assert (await client.put_result("r-1", {"sourcedId": "r-1"})).ok
        assert client.gate.rate is None and client.gate.congestion_events == 0
    assert clock.sleeps == [pytest.approx(2.0)]


async def test_paced_sends_stay_an_interval_apart_after_a_stall() -> None:
    import asyncio

    now = [100.0]

    async def stalled_sleep(seconds: float) -> None:  # every wake-up comes 0.3 s late
        now[0] += seconds + 0.3
        await asyncio.sleep(0)

    g = RateGate(10.0, sleep=stalled_sleep, clock=lambda: now[0])
    await g.acquire()
    sends = await asyncio.gather(g.acquire(), g.acquire(), g.acquire())
    ordered = sorted(sends)
    assert all(b - a >= 0.1 - 1e-9 for a, b in zip(ordered, ordered[1:], strict=False))
