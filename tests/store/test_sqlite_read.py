"""The SQLite ledger read as parsed blobs (passback/store/sqlite_read.py) returns exactly the rows
a plain cursor returns: every range, awkward ids (separators, quotes, unicode, empty), other
districts and kinds left out — and a range that cannot be parsed is read as rows."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from passback.domain.plan import LEDGER_COLUMNS
from passback.store import ledger, sqlite_read
from passback.store.db import get_engine

AWKWARD = ["a\x1fb", "line\nbreak", "cr\rid", '"quoted"', "comma,id", "ünï-cødé", "NULL", "NaN", " padded ", "1e5"]


def _fill(path: Path, rows: int, seed: int, awkward: float = 0.05) -> tuple[str, list[tuple]]:
    engine = get_engine(f"sqlite:///{path}")
    rng = random.Random(seed)
    data = []
    for n in range(rows):
        district = rng.choice(["d1", "d1", "d1", "d2"])
        kind = rng.choice(["result", "result", "lineItem"])
        assessment = rng.choice(AWKWARD) if rng.random() < awkward else f"as-{rng.randrange(40)}"
        student = "" if kind == "lineItem" else (rng.choice(AWKWARD) if rng.random() < awkward else f"st-{n}")
        status = rng.choice(["acknowledged", "rejected", "failed"])
        data.append(
            (
                district,
                kind,
                assessment,
                student,
                f"src-{n}",
                rng.randrange(-(2**63), 2**63),
                status,
                rng.choice([0, 2**62, 1764547200]),
            )
        )
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO ledger_entry (district_id, kind, assessment_id, student_id, sourced_id, payload_hash,"
            " status, retry_at, updated_at, refusals) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '2026-11-30 00:00:00', 0)",
            data,
        )
    return f"sqlite:///{path}", data


def _expected(path: Path, district: str, kind: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return sorted(
            conn.execute(
                f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger_entry WHERE district_id = ? AND kind = ?",
                (district, kind),
            ).fetchall()
        )


@pytest.mark.parametrize("batch_rows", [1, 7, 100, 10_000])
def test_blob_batches_return_exactly_the_cursor_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    url, _ = _fill(tmp_path / "state.db", 1500, seed=batch_rows)
    engine = get_engine(url)
    monkeypatch.setattr(ledger, "STREAM_BATCH_ROWS", batch_rows)
    assert sqlite_read.fits(ledger.TABLE, LEDGER_COLUMNS)
    for district in ("d1", "d2", "none"):
        for kind in ("result", "lineItem"):
            batches = list(ledger.ledger_batches(engine, district, kind, columns=LEDGER_COLUMNS))
            got = sorted(row for b in batches for row in zip(*(b[c].to_pylist() for c in LEDGER_COLUMNS), strict=True))
            assert got == _expected(tmp_path / "state.db", district, kind)
            assert all(len(b["status"]) <= batch_rows for b in batches)
            assert all(
                str(b["payload_hash"].type) == "int64" and str(b["student_id"].type) == "string" for b in batches
            )
            frame = ledger.read_ledger(engine, district, kind)
            assert sorted(frame[LEDGER_COLUMNS].itertuples(index=False, name=None)) == got


def test_a_range_with_a_separator_in_an_id_is_read_as_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = _fill(tmp_path / "state.db", 300, seed=3, awkward=0.0)
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute(
            "UPDATE ledger_entry SET student_id = 'x\x1fy' WHERE rowid = (SELECT min(rowid) FROM ledger_entry WHERE district_id = 'd1' AND kind = 'result')"
        )
    parsed: list[bool] = []
    real = sqlite_read._parse

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        parsed.append(out is not None)
        return out

    monkeypatch.setattr(sqlite_read, "_parse", spy)
    monkeypatch.setattr(ledger, "STREAM_BATCH_ROWS", 50)
    got = list(ledger.ledger_batches(get_engine(url), "d1", "result", columns=LEDGER_COLUMNS))
    rows = sorted(row for b in got for row in zip(*(b[c].to_pylist() for c in LEDGER_COLUMNS), strict=True))
    assert rows == _expected(tmp_path / "state.db", "d1", "result")
    assert parsed.count(False) == 1 and parsed.count(True) >= 1  # only that range fell back to rows


def test_nullable_or_real_columns_take_the_cursor_path() -> None:
    assert not sqlite_read.fits(ledger.TABLE, ["assessment_id", "sent_score"])
    assert not sqlite_read.fits(ledger.TABLE, ["assessment_id", "grading_period_id"])
