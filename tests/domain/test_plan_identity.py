"""The plan does not change when the engine underneath it does (issue 16: scale work).

A seeded world is written to a SQLite source, read back with ``read_district``, evaluated, its
plan acknowledged into a real state DB with deterministic twists (some items missing, some with
another hash, some rejected), read back with ``read_ledger`` and evaluated again.  Every row's
reason, every planned item's action, payload columns and hash are digested (a multiset: sorted
rows, so evaluation order does not matter) and compared with the digests the code produced
BEFORE the scale work (``fixtures/plan_identity.json``, written by
``python -m tests.domain.test_plan_identity --write`` — only ever rewrite it for an intended
change of outcomes).

- ``demo`` (fast): every reason the generator plants, plus duplicate rows (it cannot plant them),
  plus held lineItems and blocked results;
- ``M`` (slow, ~1 min): 19,284 assessments and 481,952 scores.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from passback.domain.codes import Kind
from passback.domain.context import DistrictContext, grading_period_frame, local_now
from passback.source.generate import GeneratedWorld, generate
from passback.source.read import read_district
from passback.source.write import write_world
from passback.store.db import make_engine
from passback.store.ledger import read_ledger
from passback.sync.evaluate import Evaluation, evaluate
from tests.statedb import fresh_engine

FIXTURE = Path(__file__).parent / "fixtures" / "plan_identity.json"
TODAY = dt.date(2026, 11, 18)
DIGESTED = {
    "assessments": ["id", "reason"],
    "scores": ["assessment_id", "student_id", "reason"],
    "line_items": [
        "assessment_id",
        "student_id",
        "action",
        "payload_hash",
        "title",
        "assign_date",
        "due_date",
        "class_sis_id",
        "category_id",
        "grading_period_id",
        "result_value_max",
    ],
    "results": [
        "assessment_id",
        "student_id",
        "action",
        "payload_hash",
        "student_sis_id",
        "score",
        "score_status",
        "comment",
        "score_date",
        "grading_period_id",
    ],
}
COUNTED = {"assessments": "reason", "scores": "reason", "line_items": "action", "results": "action"}


# -- the world -------------------------------------------------------------------------------------
def world_of(preset: str) -> GeneratedWorld:
    return generate(preset, seed=7, today=TODAY)


def add_structural_faults(path: str) -> None:
    """What the generator does not plant: a source without primary keys holding a duplicate
    assessment (another title) and a duplicate score (other points), after their first rows."""
    with sqlite3.connect(path) as conn:
        for table in ("otus_assessments", "otus_scores"):
            conn.execute(f"ALTER TABLE {table} RENAME TO {table}_pk")
            conn.execute(f"CREATE TABLE {table} AS SELECT * FROM {table}_pk")
            conn.execute(f"DROP TABLE {table}_pk")
        conn.execute(
            "INSERT INTO otus_assessments SELECT id, district_id, class_id, assigned_by, 'A second row, same id',"
            " assessment_type, scoring, points_possible, include_in_final_grade, assign_date, due_date, status,"
            " updated_at FROM otus_assessments WHERE rowid = 4"
        )
        conn.execute(
            "INSERT INTO otus_scores SELECT assessment_id, student_id, 1.0, state, excluded, updated_at"
            " FROM otus_scores WHERE rowid = 6"
        )


def context_of(world: GeneratedWorld) -> DistrictContext:
    seed, sis = world.seeds[0], world.scenario.districts[0]
    periods = [p for p in sis.academicSessions if p.type == "gradingPeriod"]
    utc_now = dt.datetime.combine(TODAY, dt.time(12, 0), tzinfo=ZoneInfo(seed.timezone)).astimezone(dt.UTC)
    return DistrictContext(
        district_id=seed.district_id,
        timezone=seed.timezone,
        effective_date=seed.effective_date,
        now_local=local_now(seed.timezone, utc_now),
        mapping=dict(seed.mapping),
        grading_periods=grading_period_frame(
            [
                {"sourced_id": p.sourcedId, "title": p.title, "start_date": p.startDate, "end_date": p.endDate}
                for p in periods
            ]
        ),
        active_categories=frozenset(c.sourcedId for c in sis.categories if c.status == "active" and c.districtLevel),
        closed_periods=frozenset(seed.closed_grading_period_ids) | {p.sourcedId for p in periods if p.closed},
    )


def twist(kind: str, assessment_id: pd.Series, student_id: pd.Series) -> np.ndarray:
    """0..9 per item, fixed by its natural key: 0 not in the ledger, 1 acked with another hash,
    2 rejected with the same hash, 3 rejected with another hash, else acked with the same hash."""
    keys = (kind + "|" + assessment_id.astype("str") + "|" + student_id.astype("str")).to_numpy(dtype=object)
    return np.array([int(hashlib.sha1(k.encode()).hexdigest()[:8], 16) % 10 for k in keys])


def write_ledger(url: str, district_id: str, evaluation: Evaluation) -> None:
    """The first plan as the SIS would have acknowledged it, with twists (see ``twist``)."""
    engine = fresh_engine(url)
    engine.dispose()
    rows = []
    for kind, frame in ((Kind.line_item, evaluation.plan.line_items), (Kind.result, evaluation.plan.results)):
        t = twist(kind, frame["assessment_id"], frame["student_id"])
        hashes = frame["payload_hash"].to_numpy(dtype="int64")
        hashes = np.where((t == 1) | (t == 3), hashes ^ 1, hashes)
        status = np.where((t == 2) | (t == 3), "rejected", "acked")
        keep = t != 0
        rows += [
            (district_id, kind, a, s, f"sid-{i}", int(h), st, "", "2026-11-17 00:00:00")
            for i, (a, s, h, st) in enumerate(
                zip(frame["assessment_id"][keep], frame["student_id"][keep], hashes[keep], status[keep], strict=True)
            )
        ]
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.executemany(
            "INSERT INTO ledger_entry (district_id, kind, assessment_id, student_id, sourced_id, payload_hash,"
            " status, grading_period_id, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )


# -- digests ---------------------------------------------------------------------------------------
def _text(series: pd.Series) -> list[str]:
    values = series.to_numpy(dtype=object, na_value=None)
    return ["\\N" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]


def digest(frame: pd.DataFrame, columns: list[str]) -> str:
    rows = sorted(zip(*(_text(frame[c]) for c in columns), strict=True))
    h = hashlib.sha256()
    for row in rows:
        h.update("\x1f".join(row).encode() + b"\n")
    return h.hexdigest()


def summary(evaluation: Evaluation) -> dict[str, Any]:
    frames = {
        "assessments": evaluation.assessments,
        "scores": evaluation.scores,
        "line_items": evaluation.plan.line_items,
        "results": evaluation.plan.results,
    }
    return {
        name: {
            "rows": len(frame),
            "digest": digest(frame, DIGESTED[name]),
            "counts": {
                str(k): int(v) for k, v in sorted(frame[COUNTED[name]].fillna("(passes)").value_counts().items())
            },
        }
        for name, frame in frames.items()
    }


def evaluate_twice(preset: str, tmp: Path) -> dict[str, Any]:
    world = world_of(preset)
    district = world.seeds[0].district_id
    source = f"sqlite:///{tmp / 'otus.db'}"
    write_world(world, source, tmp / "scenario.json")
    add_structural_faults(str(tmp / "otus.db"))
    context = context_of(world)
    first = evaluate(read_district(source, district), context)
    state = f"sqlite:///{tmp / 'state.db'}"
    write_ledger(state, district, first)
    out = {"first": summary(first)}
    del first
    engine = make_engine(state)
    try:
        ledger_li = read_ledger(engine, district, Kind.line_item)
        ledger_res = read_ledger(engine, district, Kind.result)
    finally:
        engine.dispose()
    second = evaluate(read_district(source, district), context, ledger_line_items=ledger_li, ledger_results=ledger_res)
    out["second"] = summary(second)
    return out


def expected(preset: str) -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())[preset]


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for run in ("first", "second"):
        for name in DIGESTED:
            g, w = got[run][name], want[run][name]
            assert (g["rows"], g["counts"]) == (w["rows"], w["counts"]), f"{run} evaluation, {name}: counts differ"
            assert g["digest"] == w["digest"], f"{run} evaluation, {name}: same counts but other rows or values"


# -- tests -----------------------------------------------------------------------------------------
def test_demo_plan_is_identical_to_the_recorded_one(tmp_path: Path) -> None:
    got = evaluate_twice("demo", tmp_path)
    want = expected("demo")
    # the check covers what it claims: every reason, every action
    reasons = set(want["first"]["assessments"]["counts"]) | set(want["second"]["scores"]["counts"])
    assert {"duplicate_row", "line_item_rejected", "assessment_ineligible", "not_yet_due"} <= reasons
    assert set(want["second"]["line_items"]["counts"]) == {"create", "update", "unchanged", "held"}
    assert set(want["second"]["results"]["counts"]) == {"create", "update", "unchanged", "held"}
    assert_same(got, want)


@pytest.mark.slow
def test_preset_m_plan_is_identical_to_the_recorded_one(tmp_path: Path) -> None:
    assert_same(evaluate_twice("M", tmp_path), expected("M"))


if __name__ == "__main__":  # python -m tests.domain.test_plan_identity --write
    import tempfile

    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.domain.test_plan_identity --write")
    recorded = {}
    for preset in ("demo", "M"):
        with tempfile.TemporaryDirectory() as tmp:
            recorded[preset] = evaluate_twice(preset, Path(tmp))
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
