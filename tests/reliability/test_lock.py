"""The district lock is heartbeaten on its own timer for the whole run, not only when a ledger batch
is recorded: a run slower than the takeover time keeps its lock against a second run, and a run
whose lock was taken over stops before its next write.

The takeover time is a setting (PASSBACK_LOCK_TAKEOVER_S, default 900 s); here it is 1 s, and the
simulator answers every request 0.6 s late with one request in flight, so one run lasts several
takeover times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passback.settings import get_settings, reset_settings
from passback.store.db import get_engine
from passback.store.locks import DistrictBusy, district_lock
from passback.sync.report import DistrictSummary
from tests.toolkit import Sis, register, run_sync, running_sis, small_world

TAKEOVER_S = 1.0
WRITES = 6  # the factory world: 2 lineItems and 4 results


def writes_seen(sis: Sis) -> int:
    puts = sis.stats()["tenants"].get("d1", {}).get("puts", {})
    return sum(n for by_status in puts.values() for n in by_status.values())


@pytest.fixture
def slow_sis(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sis]:
    monkeypatch.setenv("PASSBACK_LOCK_TAKEOVER_S", str(TAKEOVER_S))
    reset_settings()
    with running_sis(small_world()) as sis:
        register("d1", sis.url, concurrency=1)
        sis.admin("POST", "faults", json={"latency_ms": 600})
        yield sis


class Background:
    """A sync of d1 on another thread."""

    def __init__(self) -> None:
        self.summary: DistrictSummary | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.summary = run_sync("d1")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def join(self) -> DistrictSummary:
        self.thread.join(timeout=120)
        assert self.error is None and self.summary is not None, self.error
        return self.summary


def wait_until(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_slower_than_the_takeover_time_keeps_its_lock(slow_sis: Sis) -> None:
    first = Background()
    wait_until(lambda: first.summary is not None or _locked())
    refused = 0
    started = time.monotonic()
    while first.thread.is_alive():  # a second run, again and again, all through the first one's life
        second = run_sync("d1")
        if second.status == "failed" and second.run_id is None:  # refused at the lock: no run was started
            error = second.error or ""
            assert "district d1 is being synced by another run" in error and "nothing was written" in error, error
            refused += 1
            time.sleep(0.2)
        else:
            assert not first.thread.is_alive(), f"a second run got the lock while the first was alive: {second}"
    took = time.monotonic() - started
    summary = first.join()
    assert summary.status == "completed", summary.error
    assert summary.writes == WRITES
    assert took > 3 * TAKEOVER_S  # the run outlived the takeover time several times over ...
    assert refused >= 5  # ... and every second run in that time was refused
    assert writes_seen(slow_sis) == WRITES  # each item written once


def test_a_run_whose_lock_was_taken_over_stops_before_its_next_write(slow_sis: Sis) -> None:
    first = Background()
    wait_until(lambda: writes_seen(slow_sis) >= 1)
    engine = get_engine(get_settings().state_db_url)
    with district_lock(engine, "d1", stale_after_s=0.0):  # taken over, as from a run that found it stale
        at_takeover = writes_seen(slow_sis)
        summary = first.join()
        after = writes_seen(slow_sis) - at_takeover
    assert summary.status == "failed" and "another run took over this run's lock" in (summary.error or "")
    assert after <= 2  # the write in flight, and at most one started before the heartbeat noticed
    assert writes_seen(slow_sis) < WRITES

    acked = _acked()  # what the SIS acknowledged before the stop is in the ledger
    assert acked == writes_seen(slow_sis)
    slow_sis.admin("POST", "faults", json={"latency_ms": 0})
    rerun = run_sync("d1")  # converges: exactly what was not acknowledged is sent now
    assert rerun.status == "completed", rerun.error
    assert rerun.writes == WRITES - acked and writes_seen(slow_sis) == WRITES
    assert slow_sis.state()["counts"] == {"lineItems": 2, "results": 4}
    assert run_sync("d1").writes == 0


def _acked() -> int:
    from sqlalchemy import text

    with get_engine(get_settings().state_db_url).connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM ledger_entry WHERE district_id = 'd1' AND status = 'acked'")
            ).scalar_one()
        )


def _locked() -> bool:
    from sqlmodel import Session, select

    from passback.store.models import DistrictLock

    with Session(get_engine(get_settings().state_db_url)) as s:
        return s.exec(select(DistrictLock).where(DistrictLock.district_id == "d1")).first() is not None


def test_the_heartbeat_runs_without_any_ledger_batch(state_url: str, home: Path) -> None:
    """The lock alone, no run: held past several takeover times with no call from the holder."""
    engine = get_engine(state_url)
    with district_lock(engine, "d1", stale_after_s=TAKEOVER_S, keep_alive=True) as held:
        for _ in range(4):
            time.sleep(TAKEOVER_S)
            with pytest.raises(DistrictBusy, match="is being synced by another run"):
                with district_lock(engine, "d1", stale_after_s=TAKEOVER_S):
                    pass
        held.check()  # still ours
    with district_lock(engine, "d1", stale_after_s=TAKEOVER_S):  # released: free for the next run
        pass
