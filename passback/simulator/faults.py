"""Fault injection: the knobs (:class:`FaultConfig`) and their run-time machinery.

The knobs apply to the OneRoster API and the token endpoint of every tenant, never to ``/admin``;
they can be changed while the server runs (``POST /admin/faults``, a partial update).  The ASGI
middleware that applies them is :mod:`passback.simulator.middleware`; the hostile answers (a login
proxy, another service, a SIS that loses writes, a dripping or huge body, endless paging, echoed
credentials, control characters) are built by :mod:`passback.simulator.hostile`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import random
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal["drop", "hang", "error", "throttle"]
HostileWrite = Literal["html", "foreign_json", "redirect", "phantom"]
Delivery = Literal["drip", "oversize"]


class FaultConfig(BaseModel):
    """Fault knobs.  Rates are probabilities per request; one draw decides drop, hang or error."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: float = Field(0.0, ge=0, description="added to every request")
    latency_jitter_ms: float = Field(0.0, ge=0, description="plus a uniform random 0..jitter")
    concurrency_cap: int | None = Field(None, ge=1, description="requests in service at once; the rest WAIT")
    rate_limit_per_s: float | None = Field(None, gt=0, description="token bucket over gradebook writes, per tenant")
    rate_burst: int = Field(1, ge=1, description="bucket capacity")
    error_rate: float = Field(0.0, ge=0, le=1, description="share answered 500 or 503")
    hang_rate: float = Field(0.0, ge=0, le=1, description="share that sleep hang_s before answering")
    hang_s: float = Field(30.0, ge=0)
    drop_rate: float = Field(0.0, ge=0, le=1, description="share whose connection is dropped without an answer")
    throttle_rate: float = Field(0.0, ge=0, le=1, description="share answered 429 with Retry-After: 1, at random")
    fault_phase: Literal["before", "after"] = Field(
        "before", description="'after': the request is processed (a write is stored) before the error/drop/hang"
    )
    token_lifetime_s: float | None = Field(None, ge=0, description="overrides create_app(token_lifetime_s=...)")
    seed: int | None = Field(None, description="seed of the fault RNG (reproducible draws)")
    # -- hostile answers (docs/simulator.md, "Hostile faults"); one more draw per served write / API answer
    html_write_rate: float = Field(
        0.0, ge=0, le=1, description="writes answered 200 with an HTML sign-in page; not stored"
    )
    foreign_json_rate: float = Field(
        0.0, ge=0, le=1, description="writes answered 200 with JSON of another shape; not stored"
    )
    redirect_rate: float = Field(
        0.0, ge=0, le=1, description="writes answered 307 to another host's login page; not stored"
    )
    phantom_write_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="writes answered as stored (2xx + the object) but not stored (the old version stays)",
    )
    html_token: bool = Field(False, description="the token endpoint answers 200 with an HTML sign-in page")
    echo_credentials: bool = Field(
        False, description="the token endpoint answers 200 with an OAuth error echoing the client id, secret and header"
    )
    drip_rate: float = Field(0.0, ge=0, le=1, description="API answers whose body is sent one byte per drip_interval_s")
    drip_interval_s: float = Field(2.0, gt=0)
    oversize_rate: float = Field(
        0.0, ge=0, le=1, description="API answers padded with whitespace to oversize_mb (streamed)"
    )
    oversize_mb: float = Field(64.0, gt=0)
    endless_next_links: bool = Field(
        False, description="collections never end: invented records, a next link on every page, no X-Total-Count"
    )
    lying_total_count: bool = Field(
        False, description="collections never end: X-Total-Count two pages ahead of the reader, invented records"
    )
    control_chars: bool = Field(False, description="error descriptions carry ANSI escapes (\\x1b[2J ...) and BEL")

    def merged(self, patch: dict[str, Any]) -> FaultConfig:
        """A new config: this one with the keys of ``patch`` replaced (validated)."""
        return FaultConfig.model_validate({**self.model_dump(), **patch})


class ConcurrencyGate:
    """At most ``cap`` requests in service; the others wait in arrival order.  ``cap`` may change live.

    The gate keeps the SIS's clock, not the event loop's: ``acquire`` answers when this request's
    service began — when it arrived, or, when it waited, the moment its predecessor's service ended
    (``release(at=...)``) — so a slot passes on without losing the time this process took to wake
    the next request up.  A cap of N with a fixed latency L then serves N / L requests a second on
    any machine that keeps up (``bench/run.py load``: ideal = cap / latency)."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[float]] = collections.deque()

    async def acquire(self) -> float:
        """Wait for a slot; returns the loop time at which this request's service began."""
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        if self.cap is None or (self.active < self.cap and not self._waiters):
            self.active += 1
            return arrived
        waiter: asyncio.Future[float] = loop.create_future()
        self._waiters.append(waiter)
        try:
            freed = await waiter  # the releaser handed its slot over: ``active`` still counts it
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(at=waiter.result())  # handed over as this request went away: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        return max(freed, arrived)

    def release(self, at: float | None = None) -> None:
        """Free a slot whose service ended at loop time ``at`` (now when None): the next waiter takes
        it, unless the cap was lowered below the requests in service."""
        if (self.cap is None or self.active <= self.cap) and self._wake(at):
            return
        self.active -= 1

    def set_cap(self, cap: int | None) -> None:
        self.cap = cap
        while (cap is None or self.active < cap) and self._wake(None):
            self.active += 1

    def _wake(self, at: float | None) -> bool:
        """Hand a slot to the longest-waiting request still waiting (service from ``at``, now when
        None); False when none is."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(asyncio.get_running_loop().time() if at is None else at)
                return True
        return False


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored; ``take`` answers the wait in seconds (0 = ok)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> float:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    """Integer seconds to the next token, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_s)))


class FaultRuntime:
    """The live fault state shared by every request: config, RNG, concurrency gate, per-tenant buckets."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self.rng = random.Random(self.config.seed)
        self.gate = ConcurrencyGate(self.config.concurrency_cap)
        self.buckets: dict[str, TokenBucket] = {}

    async def update(self, patch: dict[str, Any]) -> FaultConfig:
        new = self.config.merged(patch)
        old, self.config = self.config, new
        if new.seed != old.seed or "seed" in patch:
            self.rng = random.Random(new.seed)
        if (new.rate_limit_per_s, new.rate_burst) != (old.rate_limit_per_s, old.rate_burst):
            self.buckets.clear()
        if new.concurrency_cap != old.concurrency_cap:
            self.gate.set_cap(new.concurrency_cap)
        return new

    def latency_s(self) -> float:
        c = self.config
        extra = self.rng.uniform(0.0, c.latency_jitter_ms) if c.latency_jitter_ms else 0.0
        return (c.latency_ms + extra) / 1000.0

    def throttle(self, tenant: str) -> float:
        """0 when a write may proceed, else the seconds until the tenant's bucket has a token."""
        c = self.config
        if c.rate_limit_per_s is None:
            return 0.0
        bucket = self.buckets.get(tenant)
        if bucket is None:
            bucket = self.buckets[tenant] = TokenBucket(c.rate_limit_per_s, c.rate_burst)
        return bucket.take()

    def draw(self) -> FaultKind | None:
        """One draw: drop, hang, error, throttle (in that order of the cumulative rates) or nothing."""
        c = self.config
        if not (c.drop_rate or c.hang_rate or c.error_rate or c.throttle_rate):
            return None
        r = self.rng.random()
        if r < c.drop_rate:
            return "drop"
        if r < c.drop_rate + c.hang_rate:
            return "hang"
        if r < c.drop_rate + c.hang_rate + c.error_rate:
            return "error"
        if r < c.drop_rate + c.hang_rate + c.error_rate + c.throttle_rate:
            return "throttle"
        return None

    def error_status(self) -> int:
        return self.rng.choice((500, 503))

    def hostile_write(self) -> HostileWrite | None:
        """For a write that is served: html, foreign_json, redirect, phantom (cumulative rates) or nothing."""
        c = self.config
        rates: tuple[tuple[HostileWrite, float], ...] = (
            ("html", c.html_write_rate),
            ("foreign_json", c.foreign_json_rate),
            ("redirect", c.redirect_rate),
            ("phantom", c.phantom_write_rate),
        )
        return self._pick(rates)

    def delivery(self) -> Delivery | None:
        """For an API answer that is served: drip, oversize (cumulative rates) or nothing."""
        c = self.config
        return self._pick((("drip", c.drip_rate), ("oversize", c.oversize_rate)))

    def _pick(self, rates: tuple[tuple[Any, float], ...]) -> Any:
        if not any(rate for _, rate in rates):
            return None
        r, edge = self.rng.random(), 0.0
        for name, rate in rates:
            edge += rate
            if r < edge:
                return name
        return None
