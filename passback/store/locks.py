"""One run per district at a time, across processes and hosts: a lock row in the state DB.

A lock whose holder process is dead (same host) or whose heartbeat is stale is taken over, so a
run killed with SIGKILL never blocks the next one for long."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import delete, update

from passback.store.db import session
from passback.store.models import DistrictLock, utcnow


class DistrictBusy(RuntimeError):
    pass


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

    def heartbeat(self) -> None:
        """Tell other runs this one is alive; raises DistrictBusy if another run took the lock over."""
        with session(self.engine) as s:
            done = s.exec(update(DistrictLock).where(DistrictLock.district_id == self.district_id,
                                                     DistrictLock.owner == self.owner).values(heartbeat_at=utcnow()))
        if done.rowcount != 1:
            raise DistrictBusy(f"district {self.district_id}: another run took over this run's lock (no heartbeat for "
                               "too long); stopping so that nothing is written twice — rerun when it has finished")


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
            utcnow() - holder.heartbeat_at > dt.timedelta(seconds=stale_after_s))
        if not stale:
            return holder
        taken = s.exec(update(DistrictLock).where(DistrictLock.district_id == district_id, DistrictLock.owner == holder.owner)
                       .values(owner=owner, pid=os.getpid(), host=host, acquired_at=utcnow(), heartbeat_at=utcnow()))
        return None if taken.rowcount == 1 else holder


@contextlib.contextmanager
def district_lock(engine: Engine, district_id: str, *, wait_s: float = 0.0, poll_s: float = 0.5,
                  stale_after_s: float = 900.0) -> Iterator[Lock]:
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
    try:
        yield Lock(engine, district_id, owner)
    finally:
        with session(engine) as s:
            s.exec(delete(DistrictLock).where(DistrictLock.district_id == district_id, DistrictLock.owner == owner))
