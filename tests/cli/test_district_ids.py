"""District ids are Otus ids exactly as the source tables spell them: ``HD1``, a UUID, and — beside
them — ``hd1``, another district that differs from the first only in case.

The whole CLI (district add, mapping set, doctor, sync, explain, backfill, runs) runs on all three;
each district's data goes to its own SIS tenant (the simulator serves ``/{tenant}/ims/...``), its
ledger, its run history, its Data Docs folder and its Prefect artifacts and flow runs, named with
``safe_key`` so that ``HD1`` and ``hd1`` never share one.  The commands go through ``cli()`` in this
process; the flows run on the session's Prefect API, whose database this test reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

from passback.domain.codes import Kind
from passback.naming import safe_key
from passback.scenario import Scenario
from passback.settings import get_settings
from passback.simulator.server import SimulatorThread, tenant_urls
from passback.store import ledger
from passback.store.db import get_engine
from tests.factory import MAPPING, as_district, merge, scenario_for, write_source
from tests.toolkit import Sis, cli, prefect_mark, prefect_values, small_world

IDS = ("HD1", "0f8e4c1a-7B2D-4c3e-9a1b-2c3d4e5f6a7b", "hd1")


def secret_of(district: str) -> str:
    return f"secret-of-{district}-0042"


def test_the_whole_cli_on_otus_spelled_ids_keeps_each_district_to_itself(home: Path, prefect_harness: None) -> None:
    marks = {table: prefect_mark(table) for table in ("artifact", "flow_run")}  # what this test's runs store
    worlds = {d: as_district(small_world(), d) for d in IDS}
    write_source(merge(*worlds.values()), get_settings().source_db_url)
    scenario = Scenario(
        districts=[scenario_for(worlds[d], tenant=d, client_id=f"otus-{d}", client_secret=secret_of(d)) for d in IDS]
    )
    with SimulatorThread(scenario) as server:
        sis = Sis(server.url)
        for d in IDS:
            api, token = tenant_urls(server.url, d)
            added = cli(
                "district",
                "add",
                d,
                "--name",
                f"District {d}",
                "--base-url",
                api,
                "--token-url",
                token,
                "--client-id",
                f"otus-{d}",
                "--client-secret",
                secret_of(d),
                "--effective-date",
                "2026-08-17",
            )
            assert added.code == 0, added.err
            assert f"district {d} added" in added.out
            mapped = cli("mapping", "set", d, *(f"{t}={c}" for t, c in MAPPING.items()))
            assert mapped.code == 0, mapped.err
            doctor = cli("doctor", d)
            assert doctor.code == 0, doctor.out + doctor.err
            assert "token issued by " + token in doctor.out

        synced = cli("sync", "--json")
        assert synced.code == 0, synced.err
        by_id = {s["district"]: s for s in json.loads(synced.out)["districts"]}
        assert sorted(by_id) == sorted(IDS)
        for d in IDS:
            assert by_id[d]["status"] == "completed", by_id[d]
            assert (by_id[d]["line_items"]["created"], by_id[d]["results"]["created"]) == (2, 4)

            # the SIS side: each tenant holds exactly its own district's objects, written once
            state = sis.state(d)
            assert state["counts"] == {"lineItems": 2, "results": 4}
            assert {li["class"]["sourcedId"] for li in state["lineItems"]} == {f"{d}:sky-c1"}
            assert {r["student"]["sourcedId"] for r in state["results"]} == {f"{d}:sky-s1", f"{d}:sky-s2"}
            puts = sis.stats()["tenants"][d]["puts"]
            # (the 422 is this district's doctor probe, refused as invalid data)
            assert {k: dict(v) for k, v in puts.items() if v} == {
                "lineItem": {"201": 2, "422": 1},
                "result": {"201": 4},
            }

            # passback's side: the ledger, the explanation, the Data Docs folder
            engine = get_engine(get_settings().state_db_url)
            acked = ledger.read_ledger(engine, d, Kind.result, columns=["assessment_id", "status"])
            assert sorted(acked["assessment_id"].unique()) == [f"{d}:a-1", f"{d}:a-2"]
            explained = cli("explain", d, f"{d}:a-1", "--json")
            assert explained.code == 0, explained.err
            assert {s["student_id"] for s in json.loads(explained.out)["scores"]} == {f"{d}:u-s1", f"{d}:u-s2"}
            assert (Path(get_settings().docs_dir) / safe_key(d)).is_dir()
        assert sis.state("HD1")["lineItems"][0]["sourcedId"] != sis.state("hd1")["lineItems"][0]["sourcedId"]

        previewed = cli("backfill", "HD1", "--effective-date", "2026-08-01")
        assert previewed.code == 0, previewed.err
        assert "HD1: effective date 2026-08-01 would write 0 new lineItems" in previewed.out

    history = cli("runs")
    assert history.code == 0
    rows = [[cell.strip() for cell in line.split("│")] for line in history.out.splitlines()]
    for d in IDS:
        runs = sum(len(row) > 1 and row[1] == d for row in rows)
        assert runs == (2 if d == "HD1" else 1), history.out  # each sync, and HD1's backfill preview
    assert {p.name for p in Path(get_settings().docs_dir).iterdir()} >= {safe_key(d) for d in IDS}
    assert len({safe_key(d) for d in IDS}) == 3

    keys = prefect_values("artifact", "key", marks["artifact"])  # Prefect's side: keys and names per district
    names = prefect_values("flow_run", "name", marks["flow_run"])
    for d in IDS:
        assert f"passback-{safe_key(d)}" in keys and f"district-{safe_key(d)}" in names
    assert f"backfill-{safe_key('HD1')}-2026-08-01" in names
