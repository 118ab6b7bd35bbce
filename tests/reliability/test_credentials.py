"""Credentials revoked before and during the nightly run (Prefect flow, three districts, one simulator).

d2's client is revoked before the run; d3's while its writes are landing (a watcher thread revokes
it once the simulator has acknowledged some of d3's results).  Both fail with a message naming the
district and how to rotate the credentials; d1 completes.  After rotation (new secret in the SIS and
in passback) a second nightly run completes d2 and d3: no duplicate lineItems, and their gradebooks
equal d1's, which ran cleanly from the same source world.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from passback.store import districts as store
from tests.factory import merge, write_source
from tests.reliability._districts import (
    Q2,
    TENANTS,
    Watcher,
    big_world,
    client_id_of,
    expected_ids,
    for_tenant,
    ledger_frame,
    normalised_gradebook,
    ok_count,
    register_district,
    secret_of,
    state_engine,
    tenant_scenario,
)
from tests.toolkit import Sis

STUDENTS = 150
ASSESSMENTS = 3
REVOKE_AFTER = 60  # d3's acknowledged result writes before its client is revoked
CONCURRENCY = 4  # each district's write concurrency (the default of `passback district add`)


def nightly_run(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
    from flows.nightly import nightly

    state = asyncio.run(nightly(districts=list(TENANTS), max_concurrency=3, return_state=True, **kwargs))
    data = state.result(raise_on_failure=False)
    assert isinstance(data, dict), f"the nightly flow returned no summary: {state.message}"
    return state, {d["district"]: d for d in data["districts"]}


@pytest.fixture
def three(home, state_url):
    """Three districts d1..d3 on one simulator, the same world each (ids prefixed), each its own client."""
    from passback.simulator.faults import FaultConfig
    from passback.simulator.server import SimulatorThread

    base = big_world(Q2("a", ASSESSMENTS), STUDENTS)
    worlds = {t: for_tenant(base, t) for t in TENANTS}
    write_source(merge(*worlds.values()), get_settings().source_db_url)
    scenario = Scenario(districts=[tenant_scenario(w, t) for t, w in worlds.items()])
    # a little latency so that d3's load lasts long enough to be interrupted (~0.5 s at least)
    with SimulatorThread(scenario, faults=FaultConfig(latency_ms=3)) as server:
        for t in TENANTS:
            register_district(t, server.url, concurrency=CONCURRENCY)
        yield Sis(server.url, server.app), worlds


@pytest.mark.slow
def test_revoked_credentials_fail_their_districts_then_rotation_completes_them(prefect_api, three) -> None:
    sim, worlds = three
    total = {t: len(worlds[t].assessments) + len(worlds[t].scores) for t in TENANTS}

    sim.revoke("d2", client_id_of("d2"))  # before the run
    watcher = Watcher(
        probe=lambda: ok_count(sim.puts("d3", "result")) >= REVOKE_AFTER,
        action=lambda: sim.revoke("d3", client_id_of("d3")),
        observe=lambda: ok_count(sim.puts("d3", "result")),
    )
    watcher.start()
    try:
        state, by_id = nightly_run()
    finally:
        watcher.stop()
    assert watcher.error is None, watcher.error
    assert watcher.fired.is_set(), "d3's load ended before its client could be revoked (the test lost the race)"

    # -- first run: d1 completes, d2 and d3 fail with an actionable message ---------------------
    assert state.is_failed()
    assert "2 of 3 districts failed" in state.message and "d2" in state.message and "d3" in state.message
    assert by_id["d1"]["status"] == "completed", by_id["d1"]["error"]
    assert by_id["d1"]["writes"] == total["d1"]
    for t in ("d2", "d3"):
        error = by_id[t]["status"] == "failed" and by_id[t]["error"]
        assert error, by_id[t]
        assert f"district {t}" in error, error
        assert "rotate" in error.lower() and f"passback district set {t} --client-secret" in error, error
        assert secret_of(t) not in error
        assert by_id[t]["error"] in state.message  # the flow's message carries each district's reason

    d2_stats = sim.tenant_stats("d2")
    assert d2_stats.get("token_requests", {}).get("401", 0) >= 1
    assert not d2_stats.get("puts", {}).get("lineItem") and not d2_stats.get("puts", {}).get("result")
    assert sim.state("d2")["counts"] == {"lineItems": 0, "results": 0}

    # d3 stopped mid-run: some writes landed, not all, and the credentials failure came from the SIS
    d3_before = sim.state("d3")
    d3_landed = d3_before["counts"]["lineItems"] + d3_before["counts"]["results"]
    assert watcher.fired_at >= REVOKE_AFTER
    assert REVOKE_AFTER <= d3_landed < total["d3"], (d3_landed, total["d3"])
    d3_puts = sim.tenant_stats("d3")["puts"]
    assert d3_puts["result"].get("401", 0) >= 1, d3_puts  # a write was refused with the revoked token
    assert sim.tenant_stats("d3")["token_requests"].get("401", 0) >= 1  # the one refresh was refused too
    # the ledger never runs ahead of the SIS, and it records what the SIS acknowledged before the
    # district stopped: only the writes still in flight then (at most the district's concurrency)
    # may have landed unrecorded (they are re-sent, harmlessly, by the next run)
    ledger = ledger_frame("d3")
    acked = set(ledger.loc[ledger["status"] == "acked", "sourced_id"])
    in_sis = {li["sourcedId"] for li in d3_before["lineItems"]} | {r["sourcedId"] for r in d3_before["results"]}
    assert acked <= in_sis, sorted(acked - in_sis)[:5]
    unrecorded = len(in_sis - acked)
    assert unrecorded <= CONCURRENCY, (
        f"{unrecorded} of d3's {len(in_sis)} writes acknowledged by the SIS before the credentials failure are "
        f"missing from the ledger (the next run re-sends them, overwriting any SIS-side edit)"
    )
    assert not (ledger["status"] == "rejected").any()  # a credentials failure is not the items' fault
    put_ok_first = ok_count(d3_puts["lineItem"]) + ok_count(d3_puts["result"])

    # -- rotation: new secrets in the SIS and in passback -----------------------------------------
    engine = state_engine()
    for t in ("d2", "d3"):
        sim.rotate(t, client_id_of(t), secret_of(t, 2))
        store.update_district(engine, t, client_secret=secret_of(t, 2))
    sim.faults(latency_ms=0)

    state2, by_id2 = nightly_run()
    assert state2.is_completed(), state2.message
    assert by_id2["d1"]["status"] == "completed" and by_id2["d1"]["writes"] == 0  # nothing changed for d1
    assert by_id2["d2"]["status"] == "completed" and by_id2["d2"]["writes"] == total["d2"]
    assert by_id2["d3"]["status"] == "completed"
    # d3 resumes with what the ledger does not hold: what had not landed, plus the writes in flight
    assert by_id2["d3"]["writes"] == total["d3"] - len(acked)

    clean = normalised_gradebook(sim.state("d1"), "d1")
    assert len(clean[0]) == ASSESSMENTS and len(clean[1]) == ASSESSMENTS * (STUDENTS + 1)
    for t in ("d2", "d3"):
        final = sim.state(t)
        assert final["duplicate_line_items"] == 0
        ids = expected_ids(t, worlds[t])
        assert {li["sourcedId"] for li in final["lineItems"]} == ids["lineItem"]
        assert {r["sourcedId"] for r in final["results"]} == ids["result"]
        assert normalised_gradebook(final, t) == clean, f"{t}'s gradebook differs from a clean run's"
    # every d3 item that landed in the first run and was recorded was not sent again
    d3_puts_after = sim.tenant_stats("d3")["puts"]
    put_ok_total = ok_count(d3_puts_after["lineItem"]) + ok_count(d3_puts_after["result"])
    assert put_ok_total - put_ok_first == by_id2["d3"]["writes"]
    assert put_ok_total <= total["d3"] + CONCURRENCY
