"""The shared gate: no self-throttling without congestion, a flood pauses everyone, adaptive pacing that
tells a rate limiter from a server's random 429s, a ceiling."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from passback.oneroster import AdaptiveRate, OneRosterClient
from passback.oneroster.rate import RateGate
from tests.client.helpers import FakeClock, StrictSIS

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


async def answer(g: RateGate, clock: FakeClock, throttled: bool, retry_after: float = 1.0) -> bool:
    """One request through the gate, answered at once; returns on_throttled's verdict (False for a 2xx)."""
    sent = await g.acquire()
    if throttled:
        return g.on_throttled(sent, retry_after)
    g.on_success(sent)
    return False


async def run_at(g: RateGate, clock: FakeClock, per_s: float, seconds: float) -> None:
    """Successes at ``per_s`` (not through acquire(): the clock is the only pacer)."""
    for _ in range(int(per_s * seconds)):
        await clock.sleep(1.0 / per_s)
        g.on_success(clock.t)


async def test_an_isolated_429_delays_only_its_own_request(clock: FakeClock) -> None:
    g = gate(clock)
    await run_at(g, clock, 40, 1)
    assert await answer(g, clock, True) is False
    await run_at(g, clock, 40, 3)
    assert await answer(g, clock, True) is False  # one 429 in the last 100 answers: chance, not congestion
    assert g.rate is None and g.paused_until == 0.0 and g.congestion_events == 0


async def test_a_flood_pauses_everyone_until_retry_after_then_slow_starts(clock: FakeClock) -> None:
    g = gate(clock)
    await run_at(g, clock, 40, 1)
    assert await answer(g, clock, True, 2.0) is False
    assert await answer(g, clock, True, 2.0) is True  # the second 429 in a row: congestion while unpaced
    assert g.paused_until == pytest.approx(clock.t + 2.0)
    assert g.rate == AdaptiveRate().start_rate and g.phase == "slow_start"
    t0 = clock.t
    await g.acquire()
    assert clock.t - t0 == pytest.approx(2.0)


async def flood(g: RateGate, clock: FakeClock) -> None:
    await answer(g, clock, True)
    assert await answer(g, clock, True)


async def test_slow_start_doubles_the_rate_every_step(clock: FakeClock) -> None:
    g = gate(clock, start_rate=4.0, slow_start_s=0.5)
    await flood(g, clock)
    for _ in range(40):
        await answer(g, clock, False)  # paced: each waits its interval
        if clock.t - g.paused_until > 1.9:
            break
    assert g.rate == pytest.approx(4.0 * 2**3)  # at 0.5, 1.0 and 1.5 s


async def test_congestion_ends_slow_start_at_the_last_step_that_passed_then_probes(clock: FakeClock) -> None:
    t = AdaptiveRate()
    g = gate(clock)
    await flood(g, clock)
    while (g.rate or 0) < 64:
        await answer(g, clock, False)
    await answer(g, clock, True)
    await answer(g, clock, True)
    assert g.phase == "probe" and g.congestion_events == 2
    assert g.rate == pytest.approx(t.verify_cut * 32)  # verified well under it: no increase...
    for _ in range(t.verify - 2):  # (the second 429 went after the decrease: it is one of the verify answers)
        await answer(g, clock, False)
    assert g.rate == pytest.approx(t.verify_cut * 32)
    await answer(g, clock, False)
    assert g.rate == pytest.approx(t.decrease * 32)  # confirmed: just under the step that passed
    verified = clock.t
    while clock.t - verified < 1.1:  # ...then, verified, the rate probes upward every probe_s
        await answer(g, clock, False)
    assert g.rate == pytest.approx(t.decrease * 32 * t.probe**2, rel=0.01)


async def probe_into_congestion(g: RateGate, clock: FakeClock) -> float:
    """Flood, slow start, probe: returns the rate that got the probe's 429s (2 of the last 100)."""
    await flood(g, clock)
    while (g.rate or 0) < 64:
        await answer(g, clock, False)
    for _ in range(2):
        await answer(g, clock, True)
    for _ in range(150):
        await answer(g, clock, False)
    congested = g.rate or 0
    for _ in range(2):
        await answer(g, clock, True)
    return congested


async def test_a_decrease_is_verified_well_under_the_new_rate_then_tracks_a_limit(clock: FakeClock) -> None:
    t = AdaptiveRate(increase_step=0.5, quiet_period_s=1000, hold_s=10)
    g = gate(clock, increase_step=t.increase_step, quiet_period_s=t.quiet_period_s, hold_s=t.hold_s)
    congested = await probe_into_congestion(g, clock)
    assert g.phase == "track"
    assert g.limit is not None and congested * 0.97 < g.limit < congested  # the rate, less its share of 429s
    assert g.rate == pytest.approx(t.verify_cut * g.limit)  # verifying: well under what the server accepted
    for _ in range(t.verify):
        await answer(g, clock, False)
    assert g.rate == pytest.approx(t.decrease * g.limit)  # confirmed: back to just under the limit
    await run_at(g, clock, g.limit, 5)  # climbs to the plateau within seconds and holds there
    assert g.rate == pytest.approx(t.plateau * g.limit)
    plateau = g.rate
    await run_at(g, clock, g.limit, 10)  # after hold_s without congestion: additive probing above it
    probing = clock.t - g.congestion_at - t.hold_s
    assert probing > 1 and plateau < (g.rate or 0) <= plateau + t.increase_step * (probing + 1)


async def test_429s_that_slowing_down_does_not_stop_are_background(clock: FakeClock) -> None:
    """A server that answers 5 % 429s at random: the gate learns the share and stops pacing."""
    import random

    rng = random.Random(7)
    g = gate(clock)
    for _ in range(3000):
        await answer(g, clock, rng.random() < 0.05)
        await clock.sleep(0.005)
    assert g.rate is None and g.phase == "unpaced"
    assert g.background == pytest.approx(0.05, abs=0.04)
    events = g.congestion_events
    for _ in range(5000):  # from then on 429s at that share are not congestion
        assert await answer(g, clock, rng.random() < 0.05) is False
    assert g.rate is None and g.congestion_events == events


async def test_the_background_share_fades_when_the_server_recovers(clock: FakeClock) -> None:
    import random

    rng = random.Random(3)
    g = gate(clock)
    for _ in range(3000):  # a server shedding 5 % at random: learned as background
        await answer(g, clock, rng.random() < 0.05)
        await clock.sleep(0.005)
    assert g.rate is None and g.background > 0.02
    for _ in range(4000):  # it recovers: no more 429s
        await answer(g, clock, False)
        await clock.sleep(0.005)
    assert g.background == 0.0
    await answer(g, clock, True)
    assert await answer(g, clock, True) is True  # so congestion is seen again at once: a flood


async def bucket_run(
    g: RateGate, clock: FakeClock, seconds: float, *, limit: float, noise: float, seed: int
) -> tuple[int, int]:
    """One worker against a one-token bucket of ``limit``/s, arrivals jittered by up to 1 ms, plus
    a share ``noise`` of 429s at random; returns (accepted, throttled)."""
    import random

    rng = random.Random(seed)
    tokens, stamp = 1.0, clock.t
    ok = throttled = 0
    end = clock.t + seconds
    while clock.t < end:
        sent = await g.acquire()
        arrival = sent + rng.uniform(0, 0.001)
        tokens = min(1.0, tokens + (arrival - stamp) * limit)
        stamp = arrival
        if tokens >= 1.0 and rng.random() >= noise:
            tokens -= 1.0
            ok += 1
            g.on_success(sent)
        else:
            throttled += 1
            if not g.on_throttled(sent, 1.0) and g.rate is None:
                await clock.sleep(0.001)  # unpaced and not a flood: this worker waits (others would go on)
    return ok, throttled


async def test_against_a_one_token_bucket_the_gate_gets_90_percent_with_few_429s(clock: FakeClock) -> None:
    g = gate(clock)
    ok, throttled = await bucket_run(g, clock, 120, limit=40, noise=0.0, seed=1)
    assert ok / 120 >= 0.9 * 40
    assert throttled / (ok + throttled) <= 0.02


async def test_a_bucket_behind_a_noisy_server_is_still_found(clock: FakeClock) -> None:
    g = gate(clock)
    ok, throttled = await bucket_run(g, clock, 120, limit=40, noise=0.05, seed=2)
    assert g.background == pytest.approx(0.05, abs=0.04)
    assert g.rate is not None  # the limit is real: still pacing
    assert ok / 120 >= 0.8 * 0.95 * 40  # of the 38/s the noise leaves


async def test_rate_never_exceeds_the_configured_ceiling(clock: FakeClock) -> None:
    g = gate(clock, ceiling=5.0, increase_step=10.0)
    for _ in range(100):
        await g.acquire()
        g.on_success()
    assert g.rate == 5.0


async def test_client_an_isolated_429_waits_alone(
    sis: StrictSIS, make_client: Callable[..., OneRosterClient], clock: FakeClock
) -> None:
    sis.on(
        "PUT",
        "/results/r-1",
        *[httpx.Response(200)] * 10,
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(200),
    )
    async with make_client() as client:
        for _ in range(10):
            await client.put_result("r-1", {"sourcedId": "r-1"})
            await clock.sleep(0.05)
        assert (await client.put_result("r-1", {"sourcedId": "r-1"})).ok
        assert client.gate.rate is None and client.gate.congestion_events == 0  # one 429: no pacing
    assert client.stats.throttled == 1 and clock.sleeps[-1] == pytest.approx(3.0)


async def test_client_a_run_of_429s_engages_the_shared_gate(
    sis: StrictSIS, make_client: Callable[..., OneRosterClient], clock: FakeClock
) -> None:
    sis.on(
        "PUT",
        "/results/r-1",
        *[httpx.Response(200)] * 10,
        *[httpx.Response(429, headers={"Retry-After": "2"})] * 2,
        httpx.Response(200),
    )
    async with make_client() as client:
        for _ in range(10):
            await client.put_result("r-1", {"sourcedId": "r-1"})
        assert (await client.put_result("r-1", {"sourcedId": "r-1"})).ok
        assert client.gate.rate is not None and client.gate.congestion_events == 1
    assert client.stats.throttled == 2 and pytest.approx(2.0) in clock.sleeps  # the shared pause


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
