"""A crash inside a ledger batch: the audit and the ledger agree afterwards (both hold the batch or
neither), on SQLite and PostgreSQL.  The sync subprocess SIGKILLs itself inside its k-th ledger
transaction — right after the ledger's INSERT ran, or right after the audit's (the last statement
before COMMIT) — the technique of tests/reliability/test_statedb.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tests.reliability import _world as W

BATCH = 20
KILL_AT_TX = 4
KINDS = {"L": "lineItem", "R": "result"}


def audited(district_id: str) -> list[tuple[str, str, str]]:
    with W.state_engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.kind, na.name, ns.name FROM audit_entry e "
                "JOIN audit_name na ON na.id = e.assessment JOIN audit_name ns ON ns.id = e.student "
                "JOIN audit_batch b ON b.id = e.id / 1048576 WHERE b.district_id = :d"
            ),
            {"d": district_id},
        ).fetchall()
    return [(KINDS[k], a, s) for k, a, s in rows]


@pytest.mark.parametrize("kill_on", ["INSERT INTO LEDGER_ENTRY", "INSERT INTO AUDIT_ENTRY"])
def test_a_crash_inside_a_batch_leaves_audit_and_ledger_agreeing(
    state_url: str, home: Path, tmp_path: Path, kill_on: str
) -> None:
    with W.testbed(home, "XS", register_overrides={"batch_size": BATCH}) as bed:
        d = bed.district_id
        log = tmp_path / "ledger.jsonl"
        proc = W.spawn_sync(
            W.sync_args(d, bed.utc_now, kill_in_ledger_tx=KILL_AT_TX, ledger_log=log),
            tmp_path / "torn",
            env={"PASSBACK_TEST_KILL_ON": kill_on},
        )
        rc, _, err = W.finish(proc)
        assert rc == -9, err
        batches = W.logged_batches(log)
        committed = set().union(*(batches[i] for i in range(1, KILL_AT_TX)))
        torn = batches[KILL_AT_TX]
        ledger = set(W.ledger_snapshot(d))
        audit = audited(d)
        assert ledger == committed and set(audit) == committed, "batches 1..k-1 in both"
        assert len(audit) == len(set(audit)) == len(ledger)  # one audit row per ledger write, no more
        assert not torn & set(audit) and not torn & ledger, "batch k in neither"

        rerun = W.run_inprocess(d, bed.utc_now)
        assert rerun.status == "completed", rerun.error
        ledger = set(W.ledger_snapshot(d))
        audit = audited(d)
        assert set(audit) == ledger and len(audit) == len(ledger)
        assert W.ledger_problems(d, bed.sis.state(d)) == []
