"""One run per district at a time, across processes and hosts: a lock row in the state DB.

A lock whose holder process is dead (same host) or whose heartbeat is older than ``stale_after_s``
is taken over, so a run killed with SIGKILL never blocks the next one for long.  A live holder
heartbeats on its own timer (a daemon thread) for as long as it holds the lock — through a long
extract, a slow load or a pause — and learns at its next heartbeat when another run took it over
(``Lock.lost``; ``Lock.check()`` raises before the next write).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, update

from passback.store.db import session
from passback.store.models import DistrictLock, utcnow

log = logging.getLogger("passback.store.locks")

STALE_AFTER_S = 900.0  # default takeover time (PASSBACK_LOCK_TAKEOVER_S)
HEARTBEAT_S = 60.0  # at most this long between heartbeats (and at most a quarter of the takeover time)


class DistrictBusy(RuntimeError):
    pass


def heartbeat_interval(stale_after_s: float) -> float:
    """Four heartbeats fit in the takeover time, so one slow DB answer never loses the lock."""
    return max(0.05, min(HEARTBEAT_S, stale_after_s / 4))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lock:
    def __init__(self, engine: Engine, district_id: str, owner: str) -> None:
        self.engine, self.district_id, self.owner = engine, district_id, owner
        self.lost = threading.Event()
        self._released = threading.Event()
        self._thread: threading.Thread | None = None

    def _taken_over(self) -> DistrictBusy:
        return DistrictBusy(
            f"district {self.district_id}: another run took over this run's lock (no heartbeat for "
            "too long); stopping so that nothing is written twice — rerun when it has finished"
        )

    def heartbeat(self) -> None:
        """Tell other runs this one is alive; raises DistrictBusy if another run took the lock over."""
        if self.lost.is_set():
            raise self._taken_over()
        with session(self.engine) as s:
            done = s.exec(
                update(DistrictLock)
                .where(col(DistrictLock.district_id) == self.district_id, col(DistrictLock.owner) == self.owner)
                .values(heartbeat_at=utcnow())
            )
        if done.rowcount != 1:
            self.lost.set()
            raise self._taken_over()

    def check(self) -> None:
        """Raises DistrictBusy when a heartbeat found the lock taken over (call before writing)."""
        if self.lost.is_set():
            raise self._taken_over()

    def keep_alive(self, every_s: float) -> None:
        """Heartbeat every ``every_s`` seconds on a daemon thread until the lock is released or lost."""

        def beat() -> None:
            while not self._released.wait(every_s):
                try:
                    self.heartbeat()
                except DistrictBusy:
                    log.error(
                        "district %s: the lock was taken over by another run; this run stops before its next write",
                        self.district_id,
                    )
                    return
                except Exception as exc:  # a DB hiccup: the next beat tries again, well inside the takeover time  # noqa: BLE001
                    log.warning("district %s: lock heartbeat failed (%s); retrying", self.district_id, exc)

        self._thread = threading.Thread(target=beat, name=f"passback-lock-{self.district_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._released.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()


def _try_acquire(engine: Engine, district_id: str, owner: str, stale_after_s: float) -> DistrictLock | None:
    """None when acquired, else the current holder."""
    host = socket.gethostname()
    try:
        with session(engine) as s:
            s.add(DistrictLock(district_id=district_id, owner=owner, pid=os.getpid(), host=host))
        return None
    except IntegrityError:
        pass
    with session(engine) as s:
        holder = s.get(DistrictLock, district_id)
        if holder is None:
            return DistrictLock(district_id=district_id, owner="?", pid=0, host="?")  # released meanwhile: retry
        stale = (holder.host == host and not _alive(holder.pid)) or (
            utcnow() - holder.heartbeat_at > dt.timedelta(seconds=stale_after_s)
        )
        if not stale:
            return holder
        taken = s.exec(
            update(DistrictLock)
            .where(col(DistrictLock.district_id) == district_id, col(DistrictLock.owner) == holder.owner)
            .values(owner=owner, pid=os.getpid(), host=host, acquired_at=utcnow(), heartbeat_at=utcnow())
        )
        return None if taken.rowcount == 1 else holder


@contextlib.contextmanager
def district_lock(
    engine: Engine,
    district_id: str,
    *,
    wait_s: float = 0.0,
    poll_s: float = 0.5,
    stale_after_s: float = STALE_AFTER_S,
    keep_alive: bool = False,
) -> Iterator[Lock]:
    """Hold the district's lock; with ``keep_alive`` a thread heartbeats it until the block ends."""
    owner = str(uuid.uuid4())
    deadline = time.monotonic() + wait_s
    holder = _try_acquire(engine, district_id, owner, stale_after_s)
    while holder is not None and time.monotonic() < deadline:
        time.sleep(poll_s)
        holder = _try_acquire(engine, district_id, owner, stale_after_s)
    if holder is not None:
        raise DistrictBusy(
            f"district {district_id} is being synced by another run (host {holder.host}, pid {holder.pid}, "
            f"since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC); nothing was written — wait for it to finish, "
            "then rerun"
        )
    lock = Lock(engine, district_id, owner)
    if keep_alive:
        lock.keep_alive(heartbeat_interval(stale_after_s))
    try:
        yield lock
    finally:
        lock.stop()
        with session(engine) as s:
            s.exec(
                delete(DistrictLock).where(
                    col(DistrictLock.district_id) == district_id, col(DistrictLock.owner) == owner
                )
            )
