"""Scenario 6 — overlap: two syncs of the same district started at once, in two processes.

Library path (``python -m tests.reliability._world sync``): both processes import everything,
then wait on a barrier file and call ``sync_district`` within milliseconds of each other.
* ``lock_wait_s=0`` (the CLI's and the nightly flow's default): one run writes, the other exits
  with status 3 and a message naming the district, having written nothing;
* ``lock_wait_s=120``: the second waits for the lock, then runs and finds nothing to write.
Either way the simulator's write count equals one clean run's, every object was created by one
PUT (no 200 replacements), and the gradebook equals the clean run's.

CLI path (``python -m passback sync --district D --json`` twice at once, both on the session's
Prefect API, wall-clock now, so the world is generated around today): one district run fails with
the lock message (exit 1), the other writes everything once.  The simulator adds 20 ms per request
so the winner holds the lock while the loser starts up.

CI world: the ``XS`` preset (~230 writes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from passback.simulator.faults import FaultConfig
from tests.reliability import _world as W


def test_two_runs_at_once_write_once(home: Path, tmp_path: Path) -> None:
    with W.testbed(home, "XS") as bed:
        d = bed.district_id
        clean = W.run_inprocess(d, bed.utc_now)
        assert clean.status == "completed", clean.error
        clean_writes = bed.sis.stored_writes(d)
        reference = bed.snapshot()
        assert bed.sis.state(bed.district_id, objects=False)["duplicate_line_items"] == 0  # the world has none
        modes = {wait: W.overlap_run(bed, tmp_path, wait) for wait in (0.0, 120.0)}

    for lock_wait_s, got in modes.items():
        (rc1, first, err1), (rc2, second, err2) = got["outcomes"]
        assert rc1 == 0 and first is not None and first["status"] == "completed", (lock_wait_s, rc1, first, err1)
        assert first["writes"] == clean_writes
        assert got["puts"] == {"201": clean_writes}, got["puts"]  # not doubled: one PUT per object, no replacement
        assert W.diff_gradebooks(got["gradebook"], reference) == []
        history = got["history"]
        if lock_wait_s == 0:  # the second exits at once, naming the district, having written nothing
            assert rc2 == W.EXIT_BUSY and second is not None, (rc2, second, err2)
            assert f"district {d} is being synced by another run" in second["error"]
            assert "nothing was written" in second["error"]
            assert len(history) == 1  # the loser never started a run
        else:  # the second waits for the lock, then finds nothing to write
            assert rc2 == 0 and second is not None and second["status"] == "completed", (rc2, second, err2)
            assert second["writes"] == 0
            assert len(history) == 2
            later, earlier = history  # newest first: the waiter started after the other had finished
            assert earlier.finished_at is not None and later.started_at >= earlier.finished_at


@pytest.mark.slow
def test_two_cli_syncs_at_once_one_refuses_with_the_district_named(
    home: Path, tmp_path: Path, prefect_api_url: str
) -> None:
    with W.testbed(home, "XS", today=None, faults=FaultConfig(latency_ms=20)) as bed:
        d = bed.district_id
        cmd = [sys.executable, "-m", "passback", "sync", "--district", d, "--json"]
        procs = [W.spawn(cmd, tmp_path / f"cli{i}", {"PREFECT_API_URL": prefect_api_url}) for i in range(2)]
        outcomes = [W.finish(p) for p in procs]
        puts = bed.sis.puts_by_status(d)
        counts = bed.sis.state(d, objects=False)

    stored = counts["counts"]["lineItems"] + counts["counts"]["results"]
    districts = [(rc, out["districts"][0] if out else None, err) for rc, out, err in outcomes]
    winners = [x for x in districts if x[0] == 0]
    losers = [x for x in districts if x[0] == 1]
    assert len(winners) == 1 and len(losers) == 1, districts
    win, lose = winners[0][1], losers[0][1]
    assert win["status"] == "completed" and win["writes"] == stored > 0, win
    assert lose["status"] == "failed" and lose["writes"] == 0, lose
    assert f"district {d} is being synced by another run" in lose["error"]
    assert puts == {"201": stored}, puts
    assert counts["duplicate_line_items"] == 0
