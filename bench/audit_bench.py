"""Benchmarks of issue 15 (run through ``bench/run.py``): the audit trail's size per write, and reconcile.

``audit-size``: N synthetic ledger batches shaped like the first night of preset L (4.3 % lineItems,
96 % results; scores with halves; 1 in 10 results a "missing" zero with its comment) are written
through ``store.ledger.record_acks`` — the load's own path, ledger and audit in one transaction —
into a fresh state DB on SQLite and on PostgreSQL; the audit tables' bytes (table + index pages:
SQLite's ``dbstat``, PostgreSQL's ``pg_total_relation_size`` after VACUUM).  Twice: with the
generator's ids (``a-L-0001234``, 11 characters) and with UUID ids (36), the longest an Otus id is;
results reuse preset L's 60,000 students.  Entries and batches grow with every write; ``audit_name``
with each new id only (L: 163,639 assessments + 60,000 students, once), so ``audit_bytes_per_write``
is L's first night: entry and batch bytes per write + bytes per name × L's ids / 3.8M writes.
"""

from __future__ import annotations

import os
import random
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent / ".cache"
MISSING = "Missing: not submitted by the due date (0 sent by Otus grade passback)"
STUDENTS = 60_000  # preset L's students: results reuse them (the audit stores each id once)
L_WRITES, L_NAMES = 3_800_000, 163_639 + 60_000  # L's first night: writes; ids the audit names
PG_URL = os.environ.get("PASSBACK_BENCH_PG_STATE_URL") or os.environ.get("PASSBACK_TEST_PG_URL")


def synthetic_batches(n_writes: int, batch_size: int, ids: str, seed: int = 15) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    students_per_item = 23  # L: 3.7M results / 163,639 lineItems
    entries: list[dict[str, Any]] = []
    item = 0
    while len(entries) < n_writes:
        aid = str(uuid.UUID(int=rng.getrandbits(128))) if ids == "uuid" else f"a-L-{item:07d}"
        entries.append(
            {
                "kind": "lineItem",
                "assessment_id": aid,
                "student_id": "",
                "sourced_id": str(uuid.uuid4()),
                "payload_hash": rng.getrandbits(63),
                "status": "acked",
                "http_status": 201,
                "action": "create",
                "grading_period_id": "sky-L-gp-3",
                "request_id": None,
                "sent": [
                    f"Unit {item % 40} quiz - chapter {item % 12}",
                    "2026-11-02",
                    "2026-11-09",
                    "sky-L-cat-quiz",
                    rng.choice([10, 20, 25, 50, 100]),
                ],
            }
        )
        for k in range(students_per_item):
            student = (item * 7 + k) % STUDENTS
            sid = str(uuid.UUID(int=student, version=4)) if ids == "uuid" else f"u-L-s{student:06d}"
            missing = rng.random() < 0.1
            score = 0 if missing else rng.randrange(0, 41) / 2
            entries.append(
                {
                    "kind": "result",
                    "assessment_id": aid,
                    "student_id": sid,
                    "sourced_id": str(uuid.uuid4()),
                    "payload_hash": rng.getrandbits(63),
                    "status": "acked",
                    "http_status": 201,
                    "action": "create",
                    "grading_period_id": "sky-L-gp-3",
                    "request_id": None,
                    "sent": [score, "fully graded", MISSING if missing else ""],
                }
            )
        item += 1
    entries = entries[:n_writes]
    return [entries[i : i + batch_size] for i in range(0, len(entries), batch_size)]


def _sizes(engine: Any) -> dict[str, int]:
    from sqlalchemy import text

    names = ("audit_entry", "audit_batch", "audit_name", "ledger_entry")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE audit_entry, audit_batch, audit_name, ledger_entry"))
            return {n: int(conn.execute(text(f"SELECT pg_total_relation_size('{n}')")).scalar_one()) for n in names}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tbl_name, name FROM sqlite_master WHERE tbl_name IN "
                "('audit_entry','audit_batch','audit_name','ledger_entry') AND type IN ('table','index')"
            )
        ).fetchall()
        out = {n: 0 for n in names}
        for table, name in rows:
            out[table] += int(
                conn.execute(
                    text("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = :n"), {"n": name}
                ).scalar_one()
            )
        return out


def measure(url: str, n_writes: int, ids: str, batch_size: int = 500) -> dict[str, Any]:
    from sqlalchemy import text

    from passback.store import ledger
    from tests.statedb import fresh_engine

    engine = fresh_engine(url)
    batches = synthetic_batches(n_writes, batch_size, ids)
    empty = _sizes(engine)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for batch in batches:
        ledger.record_acks(engine, "L", batch, "00000000-0000-4000-8000-000000000000")
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    sizes = _sizes(engine)
    with engine.connect() as conn:
        sent_bytes = int(conn.execute(text("SELECT SUM(LENGTH(sent)) FROM ledger_entry")).scalar_one())
        n_names = int(conn.execute(text("SELECT COUNT(*) FROM audit_name")).scalar_one())
    engine.dispose()
    grown = {n: sizes[n] - empty[n] for n in sizes}
    per_write = (grown["audit_entry"] + grown["audit_batch"]) / n_writes  # grows with every write
    per_name = grown["audit_name"] / max(n_names, 1)  # grows with each new id only
    l_per_write = per_write + per_name * L_NAMES / L_WRITES
    return {
        "writes": n_writes,
        "ids": ids,
        "audit_bytes_per_write": round(l_per_write, 1),  # L's first night: entries + batches + its ids once
        "entry_and_batch_bytes_per_write": round(per_write, 1),
        "this_sample_bytes_per_write": round(
            (grown["audit_entry"] + grown["audit_batch"] + grown["audit_name"]) / n_writes, 1
        ),
        "audit_entry_bytes": grown["audit_entry"],
        "audit_batch_bytes": grown["audit_batch"],
        "audit_name_bytes": grown["audit_name"],
        "names": n_names,
        "bytes_per_name": round(per_name, 1),
        "ledger_sent_chars_per_row": round(sent_bytes / n_writes, 1),
        "ledger_bytes_per_row": round((sizes["ledger_entry"] - empty["ledger_entry"]) / n_writes, 1),
        "l_first_night_audit_mb": round(l_per_write * L_WRITES / 1e6, 1),
        "record_acks_ms_per_write": {"wall": round(1000 * wall / n_writes, 4), "cpu": round(1000 * cpu / n_writes, 4)},
    }


def audit_size(n_writes: int = 100_000) -> dict[str, Any]:
    workdir = CACHE / "runs" / "audit-size"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    out: dict[str, Any] = {
        "method": f"{n_writes} synthetic writes in batches of 500 through record_acks, per backend and id shape"
    }
    for ids in ("generator", "uuid"):
        out[f"sqlite_{ids}"] = measure(f"sqlite:///{workdir / f'state-{ids}.db'}", n_writes, ids)
        if PG_URL:
            out[f"postgresql_{ids}"] = measure(PG_URL, n_writes, ids)
    return out
