"""Bad input end to end against the simulator: extreme rows and extreme configurations reach the SIS only
as valid payloads (the SIS refuses nothing and stores nothing invalid)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from passback.store import districts as store
from tests.factory import MAPPING, PERIODS, scenario_for, world
from tests.reliability._bad_input import (
    Blob,
    base_rows,
    write_raw_source,
)
from tests.reliability._districts import (
    ledger_frame,
    register_district,
    secret_of,
    state_engine,
)
from tests.toolkit import Sis, run_sync

N_DUP_ASSESSMENTS = 1000
N_DUP_SCORES = 3000


def extreme_rows() -> tuple[dict[str, list[dict[str, Any]]], dict[str, str | None]]:
    """A raw source (no primary keys) full of edge cases; returns it and each assessment's expected reason."""

    def a(aid: Any, **kw: Any) -> dict[str, Any]:
        row = {
            "id": aid,
            "district_id": "d1",
            "class_id": "c-1",
            "assigned_by": "u-t1",
            "title": f"Quiz {aid}",
            "assessment_type": "Quiz",
            "scoring": "points",
            "points_possible": 10,
            "include_in_final_grade": 1,
            "assign_date": "2026-11-02",
            "due_date": "2026-11-09",
            "status": "active",
            "updated_at": "2026-11-10 12:00:00",
        }
        row.update(kw)
        return row

    def s(aid: Any, sid: Any = "u-s1", **kw: Any) -> dict[str, Any]:
        row = {
            "assessment_id": aid,
            "student_id": sid,
            "points_earned": 8.5,
            "state": "graded",
            "excluded": 0,
            "updated_at": "2026-11-10T12:00:00",
        }
        row.update(kw)
        return row

    expected: dict[str, str | None] = {
        "a-ok": None,
        "a-dup": None,
        "a-10k": "title_too_long",
        "a-49": None,
        "a-50": "title_too_long",
        "a-pad": None,
        "a-bytes": None,
        "a-badclass": "class_not_in_sis",
        "a-future": None,
        "a-dst": None,
        "a-textpoints": None,
        "a-tenpoints": "points_not_whole",
        "a-due-today": "nothing_to_send",
        "a-blob-title": None,
    }
    assessments = [
        a("a-ok"),
        *[a("a-dup", title="Duplicated quiz") for _ in range(N_DUP_ASSESSMENTS)],
        a("a-10k", title="t" * 10_000),
        a("a-49", title="\U0001f9ea" * 49),  # 49 characters (196 bytes): fits
        a("a-50", title="e\u0301" * 25),  # 50 code points: too long
        a("a-pad", title="   " + "p" * 49 + "\t "),  # 49 once stripped
        a("a-bytes", title=b"Quiz \xff\xfe bytes"),  # not UTF-8: read with U+FFFD
        a("a-badclass", class_id=b"c-\xff1"),
        a("a-future", assign_date="2027-01-05", due_date="2027-01-12", title="Future quiz"),
        a("a-dst", assign_date="2026-10-19", due_date="2026-11-01T01:30:00-05:00", title="DST quiz"),
        a("a-textpoints", points_possible=" 20 "),
        a("a-tenpoints", points_possible="ten"),
        a("a-due-today", due_date="2026-11-18", title="Due today"),
        a("a-blob-title", title=Blob(b"Blob title")),
    ]
    scores = [
        s("a-ok"),
        s("a-ok", "u-s2", points_earned="9.5"),
        *[s("a-ok", points_earned=7.0) for _ in range(N_DUP_SCORES)],  # duplicates of (a-ok, u-s1)
        s("a-ok", b"u-\xffs2"),  # student id not UTF-8: not in the SIS
        s("a-dup"),
        s("a-10k"),
        s("a-49"),
        s("a-50"),
        s("a-pad"),
        s("a-bytes"),
        s("a-badclass"),
        s("a-future"),
        s("a-dst", state="not_submitted", points_earned=None),  # past due: 0 is sent
        s("a-dst", "u-s2", points_earned="NaN"),  # score_invalid
        s("a-textpoints"),
        s("a-tenpoints"),
        s("a-due-today", state="not_submitted", points_earned=None),  # not yet due
        s("a-blob-title", points_earned=b"\xff"),  # score_invalid ...
        s("a-blob-title", "u-s2", points_earned=Blob(b"6")),  # ... but this one passes
    ]
    return {**base_rows(), "otus_assessments": assessments, "otus_scores": scores}, expected


def assert_sis_holds_only_valid_items(state: dict[str, Any]) -> None:
    periods = {p["sourced_id"]: p for p in PERIODS}
    titles = {}
    for li in state["lineItems"]:
        title = li["title"]
        assert 1 <= len(title.strip()) <= 49, title[:60]
        assert float(li["resultValueMax"]).is_integer() and float(li["resultValueMax"]) > 0
        gp = periods[li["gradingPeriod"]["sourcedId"]]
        assert gp["start_date"] <= li["assignDate"][:10] <= li["dueDate"][:10] <= gp["end_date"]
        assert li["category"]["sourcedId"] in MAPPING.values() and li["class"]["sourcedId"] == "sky-c1"
        titles[li["sourcedId"]] = title
    for r in state["results"]:
        assert r["lineItem"]["sourcedId"] in titles
        assert math.isfinite(float(r["score"])) and float(r["score"]) >= 0
        assert r["student"]["sourcedId"] in ("sky-s1", "sky-s2")
    assert state["duplicate_line_items"] == 0


@pytest.fixture
def extreme(home, state_url) -> Iterator[tuple[Sis, dict[str, str | None], int, int]]:
    """The extreme rows in the source DB, d1 registered against the simulator (full mapping); yields
    (simulator, expected reason per assessment id, source assessment rows, source score rows)."""
    from passback.simulator.server import SimulatorThread

    rows, expected = extreme_rows()
    write_raw_source(Path(get_settings().source_db_url.removeprefix("sqlite:///")), rows)
    scenario = Scenario(districts=[scenario_for(world(), client_id="otus-d1", client_secret=secret_of("d1"))])
    with SimulatorThread(scenario) as server:
        register_district("d1", server.url, client_id="otus-d1", client_secret=secret_of("d1"))
        yield Sis(server.url, server.app), expected, len(rows["otus_assessments"]), len(rows["otus_scores"])


def _rows_accounted(summary: Any, n_assessments: int, n_scores: int) -> None:
    """Every source row is counted exactly once across the outcomes."""
    assert sum(summary.line_items.values()) == n_assessments, summary.line_items
    assert sum(summary.results.values()) == n_scores, summary.results


@pytest.mark.slow
def test_extreme_rows_reach_the_sis_only_as_valid_items(extreme) -> None:
    sim, expected, n_assessments, n_scores = extreme
    summary = run_sync()
    assert summary.status == "completed", summary.error
    _rows_accounted(summary, n_assessments, n_scores)
    assert summary.reasons["duplicate_row"] == (N_DUP_ASSESSMENTS - 1) + N_DUP_SCORES
    assert summary.reasons["title_too_long"] == 2 and summary.reasons["class_not_in_sis"] == 1
    assert summary.reasons["points_not_whole"] == 1 and summary.reasons["nothing_to_send"] == 1
    assert summary.reasons["score_invalid"] == 2 and summary.reasons["student_not_in_sis"] == 1
    assert summary.reasons["not_yet_due"] == 1
    # the SIS refused nothing, and holds exactly the eligible items, all valid
    puts = sim.tenant_stats("d1")["puts"]
    assert all(status in ("200", "201") for kind in puts.values() for status in kind), puts
    state = sim.state("d1")
    assert_sis_holds_only_valid_items(state)
    eligible = sorted(aid for aid, reason in expected.items() if reason is None)
    assert state["counts"]["lineItems"] == len(eligible) == summary.line_items["created"]
    by_title = {li["title"] for li in state["lineItems"]}
    assert "Quiz \ufffd\ufffd bytes" in by_title and "\U0001f9ea" * 49 in by_title and "p" * 49 in by_title
    assert "Blob title" in by_title
    zero = [r for r in state["results"] if float(r["score"]) == 0.0]
    assert len(zero) == 1 and "Missing" in (zero[0].get("comment") or "")  # the DST quiz, not submitted, past due
    ledger = ledger_frame("d1")
    in_sis = {li["sourcedId"] for li in state["lineItems"]} | {r["sourcedId"] for r in state["results"]}
    assert in_sis == set(ledger.loc[ledger["status"] == "acked", "sourced_id"])
    # the rerun reads the same bytes the same way: nothing to write
    again = run_sync()
    assert again.writes == 0 and again.status == "completed"
    _rows_accounted(again, n_assessments, n_scores)


@pytest.mark.slow
def test_extreme_configuration_writes_nothing_invalid(extreme) -> None:
    """An empty mapping, an effective date in the future, a UTC+14 time zone: no crash, one reason per
    row, nothing invalid reaches the SIS."""
    from sqlalchemy import text as sql

    sim, expected, n_assessments, _ = extreme
    engine = state_engine()
    with engine.begin() as conn:
        conn.execute(sql("DELETE FROM category_mapping WHERE district_id = 'd1'"))
    empty = run_sync()
    assert empty.status == "completed" and empty.writes == 0
    assert empty.reasons["category_unmapped"] == sum(r is None or r == "nothing_to_send" for r in expected.values())
    assert sum(empty.line_items.values()) == n_assessments

    store.set_mapping(engine, "d1", dict(MAPPING))
    store.update_district(engine, "d1", effective_date=dt.date(2027, 6, 1))  # after every assign date
    future = run_sync()
    assert future.status == "completed" and future.writes == 0
    assert future.reasons["before_effective_date"] == sum(
        r is None or r == "nothing_to_send" for r in expected.values()
    )
    assert sim.state("d1")["counts"] == {"lineItems": 0, "results": 0}

    store.update_district(engine, "d1", effective_date=dt.date(2026, 8, 17), timezone="Pacific/Kiritimati")
    far_east = run_sync()
    assert far_east.status == "completed", far_east.error
    assert sum(far_east.line_items.values()) == n_assessments
    # 16:00 UTC on 2026-11-18 is 06:00 on the 19th in Kiritimati: the quiz due on the 18th is past due there
    assert far_east.reasons.get("nothing_to_send", 0) == 0 and far_east.reasons.get("not_yet_due", 0) == 0
    puts = sim.tenant_stats("d1")["puts"]
    assert all(status in ("200", "201") for kind in puts.values() for status in kind), puts
    assert_sis_holds_only_valid_items(sim.state("d1"))
