"""The request gate shared by every request of one client: congestion detection, adaptive pacing, a ceiling.

Without congestion and without a configured ceiling the gate does nothing (no self-throttling): a
429 then delays only the request that got it, by its ``Retry-After``.

**Congestion** is more 429s than chance explains: among the answers to requests sent since the last
change of course (at most ``sample`` of them), more 429s than the server's *background* share of
429s predicts, by a margin (``> 1`` 429 when there is no background).  A rate limiter answers 429
because of the rate; a server that sheds load at random answers a share of 429s whatever the rate.
The gate tells them apart by what slowing down does: after every decrease it holds the new rate for
``verify`` answers.  If the 429s stopped, the decrease was right.  If they came at the same share,
slowing down did not help: that share is the background, and the gate stops pacing altogether
(what it learned from those 429s was noise); from then on only 429s beyond the background count,
and the share is re-measured as it goes (it fades when the server recovers).

**Pacing.**  The first congestion while unpaced (a flood) pauses every request until its
``Retry-After``, then paces from ``start_rate`` doubling every ``slow_start_s`` (slow start).  Each
later congestion sets the rate to ``decrease`` times what the server accepted at the current rate
(the rate times the share of its answers that were not 429s); after slow start the rate probes
upward by ``probe`` a second until the next congestion, whose estimate becomes the limit ``W``:
the rate climbs back to a plateau just under ``W``, holds it, and only after ``hold_s`` without
congestion probes above it with steps that double every ``quiet_period_s``.  Paced requests go one
interval after the previous one actually went, so a stall never releases a burst.

aiolimiter is not used here: its rate is fixed at construction, while this needs a mutable rate
and a shared pause; a configured ``rate_limit_per_s`` is the pacer's ceiling.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

Phase = Literal["unpaced", "slow_start", "probe", "track"]


@dataclass(frozen=True)
class AdaptiveRate:
    """Tuning of the adaptive pacer (rates in requests per second)."""

    start_rate: float = 16.0  # after a flood: pace from this rate...
    slow_start_s: float = 0.25  # ...doubling it this often until the next congestion
    decrease: float = 0.97  # at congestion: rate = decrease * what the server accepted at the rate
    probe: float = 1.10  # after slow start: rate *= this every probe_s until a limit is known;
    probe_s: float = 0.5
    plateau: float = 0.99  # then: climb back to plateau * W and hold there...
    hold_s: float = 10.0  # ...for this long without congestion, then probe above it:
    increase_step: float = 0.1  # + this per second, doubled every quiet_period_s (up to 2**6)
    quiet_period_s: float = 5.0
    min_rate: float = 0.5
    sample: int = 100  # the congestion detector looks at this many recent answers
    verify: int = 60  # after a decrease, this many answers (and verify_s) tell congestion from noise
    verify_s: float = 1.0
    verify_cut: float = 0.95  # ...at this share of what the server accepted
    still_congested: float = 0.25  # a 429 share above this while verifying: decrease again at once
    chance: float = 1e-4  # with a background share of 429s: congestion is what chance explains less often
    background_window: int = 500  # while unpaced, the background share is re-measured over this many answers


class RateGate:
    def __init__(
        self,
        ceiling: float | None,
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
        tuning: AdaptiveRate | None = None,
    ) -> None:
        if ceiling is not None and ceiling <= 0:
            raise ValueError("rate_limit_per_s must be positive")
        self.ceiling = ceiling
        self.rate: float | None = ceiling
        self.tuning = tuning or AdaptiveRate()
        self.phase: Phase = "unpaced"
        self.limit: float | None = None  # W: the acceptance rate at the last congestion, once tracking
        self.background = 0.0  # the share of 429s that is not congestion (a noisy server)
        self.congestion_events = 0
        self._sleep = sleep
        self._clock = clock
        self._turn = asyncio.Lock()  # paced requests take turns
        self._last_send = -1e9  # when the last paced request actually went
        self._late = 0.0  # how late sleeps wake up (average): paced sleeps end this early
        self._pause_until = 0.0
        self._answers: deque[tuple[float, bool]] = deque(maxlen=max(self.tuning.sample, self.tuning.verify))
        self._epoch = -1e9  # answers to requests sent before this predate the current course
        self._changed = -1e9  # when the rate last changed (up or down)
        self.congestion_at = -1e9  # the last decrease (or flood)
        self._verifying = False
        self._target = 0.0  # the rate to return to once a decrease is confirmed
        self._bg_n = self._bg_k = 0  # answers and 429s in the current background window

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
                wake = due - self._late  # sleeps end late: aim early by their average lateness
                if wake <= now:
                    break
                await self._sleep(wake - now)
                late = self._clock() - wake
                self._late += 0.1 * (min(max(late, 0.0), 0.005) - self._late)
            now = self._clock()
            self._last_send = now
            return now

    # -- answers ---------------------------------------------------------------------------------

    def on_success(self, sent_at: float | None = None) -> None:
        now = self._clock()
        self._answers.append((now if sent_at is None else sent_at, False))
        self._track_background(False)
        if self._verifying:
            self._check_verify(now)
        elif self.rate is not None:
            self._increase(now)

    def on_throttled(self, sent_at: float, retry_after: float) -> bool:
        """A 429 for a request sent at ``sent_at``.  Returns True when everyone now waits
        ``retry_after`` (a flood); otherwise only the throttled request should wait it."""
        now = self._clock()
        self._answers.append((sent_at, True))
        self._track_background(True)
        if self._verifying:
            self._check_verify(now)
            return False
        if not self._congested():
            return False
        if self.phase == "unpaced":
            self._pause_until = max(self._pause_until, now + retry_after)
            self._flood(now)
            return True
        self._decrease(now)
        return False

    def _track_background(self, throttled: bool) -> None:
        """While unpaced, keep the background share current: every ``background_window`` answers
        it moves halfway to the share just seen, so it fades once a noisy server recovers."""
        if self.background <= 0.0 or self.phase != "unpaced":
            return
        self._bg_n += 1
        self._bg_k += throttled
        if self._bg_n >= self.tuning.background_window:
            share = self._bg_k / self._bg_n
            self.background = 0.5 * (self.background + share)
            if self.background < 0.002:  # under one 429 in 500
                self.background = 0.0
            self._bg_n = self._bg_k = 0

    # -- the detector ----------------------------------------------------------------------------

    def _since(self, start: float, last: int | None = None) -> tuple[int, int]:
        """(answers, 429s) to requests sent at or after ``start``, among the last ``last`` answers."""
        n = k = 0
        for i, (sent, throttled) in enumerate(reversed(self._answers)):
            if last is not None and i >= last:
                break
            if sent >= start:  # answers arrive a little out of send order: look at them all
                n += 1
                k += throttled
        return n, k

    def _excess(self, n: int, k: int, floor: int = 1) -> bool:
        """More than ``floor`` 429s among n answers, and more than the background share explains:
        that many or more would come by chance with probability under ``chance``."""
        if k <= floor:
            return False
        b = self.background
        if b <= 0.0:
            return True
        tail = sum(math.comb(n, i) * b**i * (1.0 - b) ** (n - i) for i in range(k, n + 1))
        return tail < self.tuning.chance

    def _congested(self) -> bool:
        n, k = self._since(self._epoch, self.tuning.sample)
        return self._excess(n, k)

    def _accepted_at_rate(self) -> float:
        """What the server accepted at the current rate: the rate times the share of the recent
        answers (to requests sent since the last decrease) that were not 429s beyond the
        background.  In the pacer's own units, so time lost to late wake-ups does not bias it."""
        assert self.rate is not None
        n, k = self._since(self._epoch, self.tuning.sample)
        return self.rate * (1.0 - max(k / n - self.background, 0.0)) if n else self.rate

    # -- the controller --------------------------------------------------------------------------

    def _set_rate(self, rate: float, now: float) -> None:
        rate = max(rate, self.tuning.min_rate)
        self.rate = min(rate, self.ceiling) if self.ceiling is not None else rate
        self._changed = now

    def _flood(self, now: float) -> None:
        """Congestion while unpaced: everyone paused; pace from the start rate in slow start."""
        self.congestion_events += 1
        start = self._pause_until
        self._set_rate(self.tuning.start_rate, start)
        self.phase = "slow_start"
        self._epoch = start
        self.congestion_at = now

    def _decrease(self, now: float) -> None:
        t = self.tuning
        assert self.rate is not None
        if self.phase == "slow_start":
            accepted = self.rate / 2  # the previous step passed; a flood's 429s tell too little
            self.phase = "probe"
        else:  # probe or track
            accepted = self._accepted_at_rate()
            self.limit = accepted
            self.phase = "track"
        self.congestion_events += 1
        self._target = t.decrease * accepted  # (_set_rate applies the ceiling)
        self._set_rate(t.verify_cut * accepted, now)  # well under it: a rate limiter stops answering 429
        self._epoch = now
        self.congestion_at = now
        self._verifying = True

    def _check_verify(self, now: float) -> None:
        """After a decrease: did the 429s stop?  Judged on answers to requests sent since."""
        t = self.tuning
        n, k = self._since(self._epoch, t.verify)
        if n >= 20 and k / n > t.still_congested:
            self._verifying = False
            self._decrease(now)  # the decrease was not enough
            return
        if n < t.verify or now - self._epoch < t.verify_s:
            return
        self._verifying = False
        if not self._excess(n, k, floor=2):
            self._set_rate(self._target, now)  # confirmed: back up to just under what was accepted
            return
        # slowing down did not help: these 429s are the server's background, not congestion
        self.background = k / n
        self._bg_n = self._bg_k = 0
        log.info(
            "%.1f %% of requests get a 429 whatever the rate: background, not congestion; pacing off",
            100 * self.background,
        )
        self.rate = self.ceiling
        self.phase = "unpaced"
        self.limit = None
        self._epoch = now

    def _increase(self, now: float) -> None:
        t = self.tuning
        rate = self.rate
        assert rate is not None
        if self.phase == "unpaced":
            return  # a fixed ceiling before any congestion
        if self.phase == "slow_start":
            if now - self._changed >= t.slow_start_s:
                self._set_rate(rate * 2.0, now)
            return
        if self.phase == "probe":
            if now - self._changed >= t.probe_s:
                self._set_rate(rate * t.probe, now)
            return
        if now - self._changed < 1.0:
            return
        assert self.limit is not None  # tracking
        plateau = t.plateau * self.limit
        quiet = now - self.congestion_at
        if rate < plateau:
            rate = min(plateau, rate + max(t.increase_step, 0.5 * (plateau - rate)))
        elif quiet >= t.hold_s:
            rate += t.increase_step * 2 ** min(int((quiet - t.hold_s) // t.quiet_period_s), 6)
        self._set_rate(rate, now)
