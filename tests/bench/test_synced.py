"""``bench/synced.py`` prepares "preset M fully synced" without one HTTP request per write; here, on
the XS preset, it must leave exactly what a real full sync over HTTP leaves: the same objects in the
simulator (content without server timestamps), the same ledger (sourcedId, payload hash, status,
HTTP status) — and then reconcile finds no drift and the next sync writes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.synced import sync_direct
from passback.sync.district import RunOptions
from passback.sync.reconcile import reconcile
from tests.reliability import _world as W


def ledger_answers(district_id: str) -> dict[str, tuple[str, int | None]]:
    """sourcedId -> (status, HTTP status) of every ledger row of the district."""
    with W.state_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT sourced_id, status, http_status FROM ledger_entry WHERE district_id = :d"), {"d": district_id}
        )
        return {sid: (status, http) for sid, status, http in rows}


def repoint(district_id: str, sim_url: str) -> None:
    from passback.simulator.server import tenant_urls
    from passback.store.districts import update_district

    api, token = tenant_urls(sim_url, district_id)
    update_district(W.state_engine(), district_id, base_url=api, token_url=token)


def test_direct_preparation_leaves_what_a_full_sync_over_http_leaves(home: Path) -> None:
    from passback.simulator.server import SimulatorProcess

    with W.testbed(home, "XS") as bed:
        d = bed.district_id
        over_http = W.run_inprocess(d, bed.utc_now)
        assert over_http.status == "completed" and over_http.writes > 100, over_http.error
        want_gradebook, want_ledger, want_answers = bed.snapshot(), W.ledger_snapshot(d), ledger_answers(d)
        assert {status for status, _ in want_answers.values()} >= {"acked"}

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
