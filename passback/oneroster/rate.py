"""The request gate shared by every request of one client: 429 pause, adaptive pacing, fixed ceiling.

Without a 429 and without a configured ceiling the gate does nothing (no self-throttling).  A 429
makes every worker wait until its ``Retry-After`` (one shared pause) and starts pacing requests
evenly (one interval apart, also after a stall) at a rate just under the acceptance rate observed
(a decrease, once per congestion event: 429s of requests already in flight do not count again).

* After the first 429 little is known (a server's burst allowance inflates the estimate, a short
  run deflates it), so the rate doubles every half second of successes until the next 429 (slow
  start), then grows 5 % a second from just under the last rate that passed, until the third.
* From the third 429 on the gate tracks a limit ``W``, the acceptance rate at the last 429: the
  rate climbs back to a plateau just under ``W`` within seconds, holds there, and only after
  ``hold_s`` without a 429 probes above it with steps that double every ``quiet_period_s``.

A 429 costs a shared pause (with Skyward-like integer ``Retry-After`` at least a second of no
writes), so the gate aims at few of them rather than at the last per cent of throughput.

aiolimiter is not used here: its rate is fixed at construction, while this needs a mutable rate
and a shared pause; a configured ``rate_limit_per_s`` is the pacer's ceiling.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AdaptiveRate:
    """Tuning of the adaptive pacer (rates in requests per second)."""

    decrease: float = 0.96        # after a 429: rate = decrease * W (the acceptance rate observed)
    slow_start: float = 2.0       # between the first and second 429: rate *= this every slow_start_s,
    slow_start_s: float = 0.25
    probe: float = 1.10           # between the second and third: rate *= this every second;
    plateau: float = 0.985        # then: climb back to plateau * W and hold there...
    hold_s: float = 30.0          # ...for this long without a 429, then probe above it:
    increase_step: float = 0.1    # + this per second, doubled every quiet_period_s (up to 2**6)
    quiet_period_s: float = 5.0
    window_s: float = 1.0         # acceptance-rate window
    min_rate: float = 0.5
    event_s: float = 0.25         # 429s for requests sent within this long after a decrease are the same event


class RateGate:
    def __init__(self, ceiling: float | None, *, sleep: Callable[[float], Awaitable[None]],
                 clock: Callable[[], float] = time.monotonic, tuning: AdaptiveRate | None = None) -> None:
        if ceiling is not None and ceiling <= 0:
            raise ValueError("rate_limit_per_s must be positive")
        self.ceiling = ceiling
        self.rate: float | None = ceiling
        self.tuning = tuning or AdaptiveRate()
        self.limit: float | None = None  # W: the acceptance rate at the last 429
        self.congestion_events = 0
        self._sleep = sleep
        self._clock = clock
        self._turn = asyncio.Lock()      # paced requests take turns
        self._last_send = -1e9           # when the last paced request actually went
        self._pause_until = 0.0
        self._event_end = -1e9           # 429s of requests sent before this belong to the last event
        self._last_decrease = -1e9
        self._last_increase = 0.0
        self._oks: deque[float] = deque(maxlen=4096)
        self._first_ok: float | None = None
        self._cycle_start = clock()      # the end of the last pause; successes since then
        self._cycle_oks = 0
        self._burst = 0.0                # the server's burst allowance, as seen before the first 429
        self._refill = 0.0               # tokens its bucket regained during the last pause

    @property
    def paused_until(self) -> float:
        return self._pause_until

    async def acquire(self) -> float:
        """Wait for this request's turn; returns the send time (clock).

        Paced requests take turns (a FIFO lock): each waits until one interval after the previous
        one actually went and until any pause is over, re-checking after every sleep (a 429 may have
        lowered the rate or started a pause meanwhile).  So after a stall (the loop busy, a late
        wake-up) requests do not go out back to back, which a bucket of one token would refuse."""
        if self.rate is None and self._pause_until <= self._clock():
            return self._clock()  # no pacing, no pause: the common case costs nothing
        async with self._turn:
            for _ in range(8):  # bounded: a pause or a rate can change a few times while we wait
                now = self._clock()
                rate = self.rate
                due = self._pause_until
                if rate is not None and self._last_send + 1.0 / rate > due:
                    due = self._last_send + 1.0 / rate
                if due <= now:
                    break
                await self._sleep(due - now)
            now = self._clock()
            self._last_send = now
            return now

    def _window(self, now: float) -> tuple[float, float]:
        """(successes, seconds) over the last ``window_s``, not counting time spent paused."""
        oks = self._oks
        horizon = now - self.tuning.window_s
        while oks and oks[0] < horizon:
            oks.popleft()
        start = max(horizon, self._cycle_start)
        n = sum(1 for t in reversed(oks) if t >= start) if start > horizon else len(oks)
        if start == self._cycle_start:  # the pause ended inside the window: its refill is no evidence
            n = max(n - self._refill, 0.5 * n)
        return float(n), max(now - start, 0.25)

    def acceptance_rate(self, now: float) -> float | None:
        """The rate the server accepts, estimated at a 429; None without data.

        While tracking a limit, the larger of: the successes since the last pause ended over that
        time (a big bucket was empty at both 429s, so this is its refill rate), and the recent
        window without the server's burst (a bucket of one token empties at the rate we sent)."""
        n, span = self._window(now)
        if n <= 0:
            return None
        cycle_span = now - self._cycle_start
        if self.limit is not None and cycle_span >= 1.0 and self._cycle_oks >= 5:
            cycle = max(self._cycle_oks - self._refill, 0.5 * self._cycle_oks) / cycle_span
            return max(cycle, max(n - self._burst, 0.5 * n) / span)
        return n / span

    def on_success(self) -> None:
        now = self._clock()
        self._oks.append(now)
        self._cycle_oks += 1
        if self._first_ok is None:
            self._first_ok = now
        rate = self.rate
        t = self.tuning
        if rate is None or now - self._last_increase < (t.slow_start_s if self.congestion_events <= 1 else 1.0):
            return
        if self.congestion_events <= 1:  # slow start (or a fixed ceiling before any 429)
            rate *= t.slow_start
        elif self.limit is None:
            rate *= t.probe
        else:
            plateau = t.plateau * self.limit
            quiet = now - self._last_decrease
            if rate < plateau:
                rate = min(plateau, rate + max(t.increase_step, 0.5 * (plateau - rate)))
            elif quiet >= t.hold_s:
                rate += t.increase_step * 2 ** min(int((quiet - t.hold_s) // t.quiet_period_s), 6)
        self.rate = min(rate, self.ceiling) if self.ceiling is not None else rate
        self._last_increase = now

    def on_throttled(self, sent_at: float, retry_after: float) -> None:
        """A 429 for a request sent at ``sent_at``: pause everyone, and lower the rate once per event."""
        now = self._clock()
        if now + retry_after > self._pause_until:
            self._pause_until = now + retry_after
        if sent_at < self._event_end:
            return  # sent before the last decrease took effect: the same congestion event
        if self.congestion_events == 0 and self._first_ok is not None and now - self._first_ok <= 1.0:
            self._burst = float(len(self._oks))  # a flood at start: what got through is the burst
        t = self.tuning
        rate = self.rate
        if self.congestion_events and rate is not None and now - self._cycle_start < t.window_s:
            base = rate  # right after a pause: too little data to measure; just step down from the rate
        else:
            observed = self.acceptance_rate(now)
            if observed is None:
                return  # nothing is known yet: the pause alone; the next 429 will have data
            base = observed
            if rate is not None:  # pacing at about what got accepted: the pacing rate itself was too much
                base = rate if observed >= 0.9 * rate else observed
        if self.congestion_events == 1 and rate is not None:  # ends slow start: the last step passed
            base = max(base, rate / t.slow_start)
        if self.congestion_events >= 2:
            self.limit = base  # from the third 429 on: track a limit
        rate = max(base * t.decrease, t.min_rate)
        self.rate = min(rate, self.ceiling) if self.ceiling is not None else rate
        self._last_decrease = now
        self._last_increase = self._pause_until
        self._event_end = max(self._pause_until, now + t.event_s)  # 429s of requests already in flight: same event
        self._cycle_start = self._pause_until
        self._cycle_oks = 0
        self._refill = min(self._burst, self.rate * (self._pause_until - now))
        self.congestion_events += 1
