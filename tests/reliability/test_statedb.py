"""Scenario 8 — the state DB survives a crash, on SQLite and (when PASSBACK_TEST_PG_URL is set) on
PostgreSQL (the ``state_url`` fixture runs each test on both).

* Killed mid-transaction: the sync process (library path, see test_crash) SIGKILLs itself right
  after the INSERT of its k-th ledger batch ran inside the open transaction, before COMMIT (a
  SQLAlchemy ``after_cursor_execute`` hook installed by ``_world``; every batch's keys are logged,
  fsynced, before it is written).  The ledger must then hold exactly batches 1..k-1 and nothing of
  batch k; the dead run's lock is taken over; the rerun re-sends exactly batch k's writes and
  converges (clean gradebook, ledger == SIS).  Then one SIGKILL at a random write count on the
  same backend, rerun, same checks.
* Alembic: a real state (district, mapping, closed periods, runs, ~230 ledger rows from a sync) is
  loaded into a DB at the previous release's schema (revision 0001), upgraded to head: every row
  is kept, and a sync on the upgraded DB recognises the ledger (nothing to write).  The from-empty
  migration and a two-row upgrade are in tests/store/test_store.py.

CI world: the ``XS`` preset, batch size 20 (~12 ledger transactions per run).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from passback.store.db import forget_engines, make_engine
from passback.store.migrate import current, upgrade
from passback.store.models import SQLModel
from tests.reliability import _world as W
from tests.statedb import drop_everything

BATCH = 20
KILL_AT_TX = 6
CONCURRENCY = 4  # the district's client concurrency (the default)
HEAD = "0007_audit_compact"
TABLES = ["district", "category_mapping", "closed_grading_period", "run", "ledger_entry"]


def test_killed_inside_a_ledger_transaction_leaves_whole_batches(state_url: str, home: Path, tmp_path: Path) -> None:
    with W.testbed(home, "XS", register_overrides={"batch_size": BATCH, "concurrency": CONCURRENCY}) as bed:
        d = bed.district_id
        clean = W.run_inprocess(d, bed.utc_now)
        assert clean.status == "completed", clean.error
        clean_writes = bed.sis.stored_writes(d)
        reference = bed.snapshot()
        assert bed.sis.state(bed.district_id, objects=False)["duplicate_line_items"] == 0  # the world has none
        torn = W.ledger_tx_trial(bed, reference, clean_writes, KILL_AT_TX, tmp_path, "torn")
        trial = W.crash_trial(
            bed,
            reference,
            clean_writes,
            kill_writes=random.Random(8).randint(BATCH, clean_writes - BATCH),
            kill_after_s=None,
            workdir=tmp_path,
            name="random",
        )

    # 1. SIGKILL between the ledger INSERT and its COMMIT
    assert torn["returncode"] == -9 and torn["stdout_json"] is None, torn
    assert torn["batches_logged"] == list(range(1, KILL_AT_TX + 1)), torn
    assert torn["ledger_equals_committed_batches"], torn  # batches 1..k-1 whole ...
    assert torn["torn_batch_rows"] > 0 and torn["torn_rows_in_ledger"] == 0, torn  # ... and batch k not at all
    # batch k reached the SIS, and so may the requests in flight while its transaction ran (the
    # load streams: it does not wait for a batch to finish before sending the next writes)
    unrecorded = torn["written_before_kill"] - torn["committed_rows"]
    assert torn["torn_batch_rows"] <= unrecorded <= torn["torn_batch_rows"] + CONCURRENCY, torn
    assert torn["killed_run_status"] == "running" and torn["lock_left"], torn  # what a SIGKILL leaves behind
    assert torn["rerun_status"] == "completed", torn["rerun_error"]
    assert torn["rerun_writes"] == clean_writes - torn["committed_rows"]
    assert torn["resent"] == unrecorded  # exactly what reached the SIS without reaching the ledger
    assert torn["gradebook_diff"] == [] and torn["duplicate_line_items"] == 0
    assert torn["ledger_problems"] == []

    # 2. SIGKILL at a random moment on the same backend
    assert trial["kill"]["killed"] and trial["returncode"] == -9, trial
    assert trial["rerun_status"] == "completed", trial["rerun_error"]
    assert trial["gradebook_diff"] == [] and trial["ledger_problems"] == [] and trial["duplicate_line_items"] == 0
    assert trial["rerun_writes"] == clean_writes - trial["ledger_rows_after_kill"]
    assert 0 <= trial["resent"] <= BATCH + CONCURRENCY, trial


def dump(engine: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of the state tables (head schema), ordered by primary key."""
    out = {}
    with engine.connect() as conn:
        for name in TABLES:
            table = SQLModel.metadata.tables[name]
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings().all()
            out[name] = [dict(r) for r in rows]
    return out


@pytest.mark.parametrize(("base", "added"), [("0001_initial", "batch_size"), ("0002_load_budget", "request_timeout_s")])
def test_upgrade_from_a_previous_release_keeps_a_real_state_and_the_ledger_still_counts(
    state_url: str, home: Path, base: str, added: str
) -> None:
    with W.testbed(home, "XS", register_overrides={"batch_size": BATCH, "concurrency": CONCURRENCY}) as bed:
        d = bed.district_id
        first = W.run_inprocess(d, bed.utc_now)
        assert first.status == "completed" and first.writes > 0, first.error
        before = dump(W.state_engine())
        assert len(before["ledger_entry"]) == first.writes and before["closed_grading_period"]
        forget_engines()

        engine = make_engine(state_url)  # the previous release's schema, holding this state
        drop_everything(engine)
        upgrade(engine, base)
        old = MetaData()
        old.reflect(engine)
        with engine.begin() as conn:
            for name in TABLES:
                cols = set(old.tables[name].columns.keys())
                rows = [{k: v for k, v in r.items() if k in cols} for r in before[name]]
                conn.execute(old.tables[name].insert(), rows)
        assert added not in old.tables["district"].columns  # it really is the old schema
        upgrade(engine)
        assert current(engine) == HEAD
        after = dump(engine)
        engine.dispose()

        second = W.run_inprocess(d, bed.utc_now)  # the secret still decrypts, the ledger is recognised
        state = bed.sis.state(d)
        stored = bed.sis.stored_writes(d)

    for name in TABLES:
        cols = set(old.tables[name].columns.keys())
        assert [{k: v for k, v in r.items() if k in cols} for r in after[name]] == [
            {k: v for k, v in r.items() if k in cols} for r in before[name]
        ], name
    kept_batch = 500 if base == "0001_initial" else BATCH  # a column the base lacked gets its default
    assert [(r["batch_size"], r["request_timeout_s"]) for r in after["district"]] == [(kept_batch, 30.0)]
    assert second.status == "completed", second.error
    assert second.writes == 0 and stored == first.writes
    assert W.ledger_problems(d, state) == []
