"""The SQLAlchemy path on PostgreSQL (CI sets PASSBACK_TEST_PG_URL): write a world, read it back typed.

Runs in a schema of its own, so it never touches the state DB tests' tables."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from passback.source.generate import generate
from passback.source.read import COLUMNS, read_district
from passback.source.write import write_world

PG_URL = os.environ.get("PASSBACK_TEST_PG_URL")
pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="PASSBACK_TEST_PG_URL is not set")]


@pytest.fixture
def pg_source_url() -> Iterator[str]:
    schema = f"otus_src_{uuid.uuid4().hex[:8]}"
    admin = create_engine(str(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in str(PG_URL) else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_world_round_trips_through_postgres(pg_source_url: str, tmp_path: Path) -> None:
    world = generate("demo", seed=7, today=dt.date(2026, 11, 18), districts=2)
    write_world(world, pg_source_url, tmp_path / "scenario.json")
    write_world(world, pg_source_url, tmp_path / "scenario.json")  # replaces the districts' rows
    frames = read_district(pg_source_url, "demo")
    mine = world.assessments[world.assessments["district_id"] == "demo"].reset_index(drop=True)
    pd.testing.assert_frame_equal(frames.assessments.sort_values("id", ignore_index=True), mine)
    scores = world.scores[world.scores["assessment_id"].isin(mine["id"])].reset_index(drop=True)
    got = frames.scores.sort_values(["assessment_id", "student_id"], ignore_index=True)
    pd.testing.assert_frame_equal(got, scores)
    for name, columns in COLUMNS.items():
        assert list(getattr(frames, name).columns) == columns
    assert len(frames.users) == (world.users["district_id"] == "demo").sum()
