"""``bench/synced.py`` prepares "preset M fully synced" without one HTTP request per write; here, on
the XS preset, it must leave exactly what a real full sync over HTTP leaves: the same objects in the
simulator (content without server timestamps), the same ledger (sourcedId, payload hash, status,
HTTP status) — and then reconcile finds no drift and the next sync writes nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.synced import sync_direct
from passback.domain.payloads import result_id
from passback.settings import get_settings
from passback.sync.district import RunOptions
from passback.sync.reconcile import reconcile
from tests.reliability import _world as W


def ledger_answers(district_id: str) -> dict[str, tuple[Any, ...]]:
    """sourcedId -> (status, HTTP status, the SIS's code and message) of every ledger row of the district."""
    with W.state_engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT sourced_id, status, http_status, sis_code, sis_message FROM ledger_entry WHERE district_id = :d"
            ),
            {"d": district_id},
        )
        return {sid: tuple(rest) for sid, *rest in rows}


def unenrol_one_student(bed: Any) -> tuple[str, str]:
    """The SIS no longer enrols the world's last-listed student: (an assessment, the Otus student id) of
    a score of theirs that the SIS will refuse."""
    scenario = json.loads(bed.scenario_path.read_text())
    district = scenario["districts"][0]
    sky = next(e["userSourcedId"] for e in reversed(district["enrollments"]) if e["role"] == "student")
    district["enrollments"] = [e for e in district["enrollments"] if e["userSourcedId"] != sky]
    bed.scenario_path.write_text(json.dumps(scenario))
    bed.sis.reset_gradebook(bed.scenario_path)
    with sqlite3.connect(get_settings().source_db_url.removeprefix("sqlite:///")) as db:
        return db.execute(
            "SELECT s.assessment_id, s.student_id FROM otus_scores s JOIN otus_users u ON u.id = s.student_id"
            " WHERE u.sis_id = ? LIMIT 1",
            (sky,),
        ).fetchone()


def repoint(district_id: str, sim_url: str) -> None:
    from passback.simulator.server import tenant_urls
    from passback.store.districts import update_district

    api, token = tenant_urls(sim_url, district_id)
    update_district(W.state_engine(), district_id, base_url=api, token_url=token)


def test_direct_preparation_leaves_what_a_full_sync_over_http_leaves(home: Path) -> None:
    from passback.simulator.server import SimulatorProcess

    with W.testbed(home, "XS") as bed:
        d = bed.district_id
        not_enrolled = unenrol_one_student(bed)  # its results are refused: the refusal path too
        over_http = W.run_inprocess(d, bed.utc_now)
        assert over_http.status == "completed" and over_http.writes > 100, over_http.error
        want_gradebook, want_ledger, want_answers = bed.snapshot(), W.ledger_snapshot(d), ledger_answers(d)
        assert {answer[:2] for answer in want_answers.values()} == {("acked", 201), ("rejected", 422)}
        refused = want_answers[result_id(d, *not_enrolled)]
        assert refused[:3] == ("rejected", 422, "invalid_data") and "student_not_enrolled" in refused[3]

        bed.clean_reset()  # an empty gradebook and ledger: the same first night, its writes applied directly
        assert bed.snapshot() == {} and W.ledger_snapshot(d) == {}
        options = RunOptions(utc_now=bed.utc_now, build_docs=False)
        direct: Any = asyncio.run(sync_direct(d, str(home / "simulator.db"), options))
        assert direct.status == "completed", direct.error
        assert direct.writes == over_http.writes
        assert bed.sis.tenant_stats(d)["writes"] == 0  # no write went over HTTP

    # as bench/run.py does: a new simulator process on the prepared database (the first one cached its counts)
    with SimulatorProcess(bed.scenario_path, db_path=str(home / "simulator.db"), port=0) as sim:
        repoint(d, sim.url)
        sis = W.Sis(sim.url)
        assert W.diff_gradebooks(W.gradebook(sis.state(d)), want_gradebook) == []
        assert W.ledger_snapshot(d) == want_ledger
        assert ledger_answers(d) == want_answers

        drift = asyncio.run(reconcile(d))
        assert drift.edited_in_sis == [] and drift.deleted_in_sis == []
        assert drift.checked == len(want_gradebook)
        assert W.run_inprocess(d, bed.utc_now).writes == 0
