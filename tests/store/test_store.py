"""The state DB on SQLite and PostgreSQL: migrations, districts, secrets, ledger, locks, runs."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import time

import pytest
from sqlalchemy import text

from passback.store import districts, ledger, runs
from passback.store.db import get_engine, make_engine
from passback.store.locks import DistrictBusy, district_lock
from passback.store.migrate import current, upgrade
from passback.store.secrets import decrypt_secret
from tests.statedb import drop_everything

SECRET = "s3cr3t-Never-Store-Me"


def spec(**overrides) -> districts.DistrictSpec:
    data = dict(
        id="d1",
        name="District One",
        base_url="https://sis.example/ims/oneroster/v1p1",
        token_url="https://sis.example/oauth/token",
        client_id="otus",
        client_secret=SECRET,
        effective_date=dt.date(2026, 8, 17),
    )
    data.update(overrides)
    return districts.DistrictSpec(**data)


def dump(engine) -> str:
    with engine.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                    if engine.dialect.name == "postgresql"
                    else "SELECT name FROM sqlite_master WHERE type='table'"
                )
            )
        ]
        return repr([conn.execute(text(f'SELECT * FROM "{t}"')).fetchall() for t in tables])


HEAD = "0007_audit_compact"


@pytest.mark.fresh_state_db
def test_migrations_create_the_schema_from_empty(state_url: str) -> None:
    engine = get_engine(state_url)
    assert current(engine) == HEAD


def test_upgrade_from_the_previous_release_keeps_data(state_url: str) -> None:
    engine = make_engine(state_url)
    drop_everything(engine)
    upgrade(engine, "0001_initial")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO district (id, name, base_url, token_url, client_id, secret_ciphertext, timezone, "
                "effective_date, enabled, concurrency, grace_hours, deletion_policy, verify_tls, created_at, updated_at) "
                "VALUES ('old', 'Old', 'https://x/y', 'https://x/t', 'c', 'ct', 'UTC', '2026-08-01', true, 4, 0, 'keep', true, "
                "'2026-08-01 00:00:00', '2026-08-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ledger_entry VALUES ('old', 'result', 'a', 's', 'sid', -42, 'acked', 200, NULL, NULL, 'gp', 'r', '2026-08-01 00:00:00')"
            )
        )
    upgrade(engine)
    assert current(engine) == HEAD
    got = districts.get_district(engine, "old")
    assert got.batch_size == 500 and got.max_writes_per_run is None and got.request_timeout_s == 30.0
    assert ledger.read_ledger(engine, "old", "result")["payload_hash"].tolist() == [-42]


def test_secret_is_encrypted_at_rest_and_round_trips(state_url: str, home) -> None:
    engine = get_engine(state_url)
    districts.add_district(engine, spec())
    assert SECRET not in dump(engine)
    if state_url.startswith("sqlite"):
        assert SECRET.encode() not in (home / "state.db").read_bytes()
    assert decrypt_secret(districts.get_district(engine, "d1").secret_ciphertext).get_secret_value() == SECRET
    assert SECRET not in repr(districts.get_district(engine, "d1"))
    key = home / "secret.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_invalid_changes_leave_the_db_unchanged(state_url: str) -> None:
    engine = get_engine(state_url)
    districts.add_district(engine, spec())
    before = dump(engine)
    for bad in ({"timezone": "Mars/Olympus"}, {"base_url": "ftp://nope"}, {"concurrency": 0}):
        with pytest.raises(ValueError):
            districts.update_district(engine, "d1", **bad)
    with pytest.raises(ValueError):
        districts.set_mapping(engine, "d1", {"Quiz": "cat-quiz", "Poster": "cat-x"})
    with pytest.raises(LookupError, match="unknown district 'nope'"):
        districts.get_district(engine, "nope")
    assert dump(engine) == before


def test_ledger_upsert_and_read_round_trip(state_url: str) -> None:
    engine = get_engine(state_url)
    rows = [
        dict(kind="result", assessment_id="a", student_id=f"s{i}", sourced_id=f"x{i}", payload_hash=h, status="acked")
        for i, h in enumerate([-(2**63), -1, 0, 2**63 - 1])
    ]
    ledger.record_acks(engine, "d1", rows, "run-1")
    ledger.record_acks(engine, "d1", [dict(rows[0], payload_hash=7, status="rejected", sis_message="no")], "run-2")
    frame = ledger.read_ledger(engine, "d1", "result").sort_values("student_id")
    assert frame["payload_hash"].tolist() == [7, -1, 0, 2**63 - 1]
    assert frame["status"].tolist() == ["rejected", "acked", "acked", "acked"]
    assert ledger.ledger_counts(engine, "d1") == {"result": {"acked": 3, "rejected": 1}}


def test_a_failing_batch_writes_nothing(state_url: str) -> None:
    engine = get_engine(state_url)
    good = dict(kind="result", assessment_id="a", student_id="s1", sourced_id="x", payload_hash=1, status="acked")
    with pytest.raises(Exception):
        ledger.record_acks(engine, "d1", [good, dict(good, student_id="s2", payload_hash="not a number")], "r")
    assert ledger.read_ledger(engine, "d1", "result").empty


def test_second_lock_fails_fast_and_waits(state_url: str) -> None:
    engine = get_engine(state_url)
    with district_lock(engine, "d1"):
        with pytest.raises(DistrictBusy, match="district d1 is being synced by another run"):
            with district_lock(engine, "d1"):
                pass
    with district_lock(engine, "d1"):
        pass  # released


def test_a_live_holder_keeps_its_lock_by_heartbeat_and_learns_when_it_lost_it(state_url: str) -> None:
    engine = get_engine(state_url)
    with district_lock(engine, "d1", stale_after_s=1.0) as first:
        time.sleep(1.2)
        first.heartbeat()  # fresh again: not stale
        with pytest.raises(DistrictBusy), district_lock(engine, "d1", stale_after_s=1.0):
            pass
        time.sleep(1.2)  # no heartbeat for longer than stale_after_s: another run may take over
        with district_lock(engine, "d1", stale_after_s=1.0), pytest.raises(DistrictBusy, match="took over"):
            first.heartbeat()


def _hold_and_die(url: str) -> None:
    engine = make_engine(url)
    ctx = district_lock(engine, "d1")
    ctx.__enter__()
    os._exit(0)  # dies holding the lock, like a SIGKILL


def test_a_dead_holder_is_taken_over(state_url: str) -> None:
    get_engine(state_url)
    proc = multiprocessing.get_context("spawn").Process(target=_hold_and_die, args=(state_url,))
    proc.start()
    proc.join(60)
    with district_lock(get_engine(state_url), "d1"):
        pass


def test_runs_bookkeeping(state_url: str) -> None:
    engine = get_engine(state_url)
    run_id = runs.start_run(engine, "d1", "sync")
    runs.finish_run(engine, run_id, "completed", {"writes": 3}, None)
    last = runs.last_successful_run(engine, "d1")
    assert last is not None and last.id == run_id and '"writes": 3' in last.counts


def test_runs_left_running_by_a_dead_process_are_closed_as_abandoned(state_url: str) -> None:
    engine = get_engine(state_url)
    dead = runs.start_run(engine, "d1", "sync")  # never finished: its process was killed
    other = runs.start_run(engine, "d2", "sync")
    assert runs.abandon_running(engine, "d1") == 1
    by_id = {r.id: r for r in runs.recent_runs(engine, "d1")}
    assert by_id[dead].status == "abandoned" and by_id[dead].finished_at is not None
    assert runs.recent_runs(engine, "d2")[0].id == other and runs.recent_runs(engine, "d2")[0].status == "running"
