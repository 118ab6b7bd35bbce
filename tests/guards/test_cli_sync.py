"""`passback sync` as a script sees it: a held district is reported in the JSON with the guards that
tripped, writes nothing, and the exit status says "held" (3) when nothing failed — 1 as soon as a
district failed.  The first sync of the held district and the backfill preview are child processes
(the exit status and stdout a script gets); the other commands go through ``cli()`` in this process
(same exit codes and output, without a new interpreter importing Prefect and GX each time)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import as_district, merge, scenario_for, write_source
from tests.toolkit import Sis, cli, register, small_world

pytestmark = pytest.mark.slow


@pytest.fixture
def two(home: Path) -> Iterator[Sis]:
    """dOk (ordinary) and dHeld (any night with more than one write is held): one Otus source, one SIS."""
    from passback.simulator.server import SimulatorThread

    worlds = {d: as_district(small_world(), d) for d in ("dOk", "dHeld")}
    write_source(merge(*worlds.values()), get_settings().source_db_url)
    with SimulatorThread(Scenario(districts=[scenario_for(w, tenant=d) for d, w in worlds.items()])) as server:
        for d in worlds:
            register(d, server.url)
        yield Sis(server.url)


def districts(out: str) -> dict[str, Any]:
    return {d["district"]: d for d in json.loads(out)["districts"]}


def test_held_district_exit_status_3_and_the_json(two: Sis, cli_process: Any) -> None:
    assert cli("district", "set", "dHeld", "--guard-writes", "1").code == 0
    ran = cli_process("sync", "--json")
    assert ran.code == 3, ran.err
    by_id = districts(ran.out)
    assert by_id["dOk"]["status"] == "completed" and by_id["dOk"]["writes"] == 6 and by_id["dOk"]["guards"] == []
    held = by_id["dHeld"]
    assert (held["status"], held["writes"]) == ("held", 0)
    assert held["guards"] == [{"name": "writes", "value": 6, "limit": 1, "usual": None}]
    assert two.state("dHeld")["counts"] == {"lineItems": 0, "results": 0}
    assert two.state("dOk")["counts"] == {"lineItems": 2, "results": 4}

    shown = cli("sync")  # the table and the way out, for a person
    assert shown.code == 3, shown.err
    assert "dHeld" in shown.out and "writes 6 > 1" in shown.out and "passback approve dHeld" in shown.out

    assert cli("district", "set", "dHeld", "--no-guards").code == 0  # switched off: the night goes through
    ran = cli("sync", "--json")
    assert ran.code == 0, ran.err
    assert districts(ran.out)["dHeld"]["status"] == "completed"
    assert two.state("dHeld")["counts"] == {"lineItems": 2, "results": 4}


def test_a_failed_district_wins_exit_status_1(two: Sis, prefect_harness: None) -> None:
    assert cli("district", "set", "dHeld", "--guard-writes", "1").code == 0
    assert cli("district", "set", "dOk", "--client-secret", "revoked").code == 0
    ran = cli("sync", "--json")
    assert ran.code == 1, ran.err
    by_id = districts(ran.out)
    assert (by_id["dOk"]["status"], by_id["dHeld"]["status"]) == ("failed", "held")


def test_a_backfill_shows_its_size_and_waits_for_approval(home: Path, cli_process: Any) -> None:
    import datetime as dt

    from tests.toolkit import running_sis

    with running_sis(small_world()) as sis:
        register("d1", sis.url, effective_date=dt.date(2026, 11, 5), guard_writes=1)  # a-1, a-2 are before it
        preview = cli_process("backfill", "d1", "--effective-date", "2026-08-17")
        assert preview.code == 0, preview.err
        assert "would write 2 new lineItems" in preview.out and "would be held for approval" in preview.out
        assert "writes 6 > 1" in preview.out

        applied = cli("backfill", "d1", "--effective-date", "2026-08-17", "--apply")
        assert applied.code == 3, applied.err
        assert "d1 held" in applied.out and "6 writes planned" in applied.out and "passback approve d1" in applied.out
        assert sis.state()["counts"] == {"lineItems": 0, "results": 0}

        approved = cli("approve", "d1", "--note", "the new date is right", "--by", "Dana", "--sync")
        assert approved.code == 0, approved.err
        assert "approved the held plan of d1 (6 writes" in approved.out
        assert sis.state()["counts"] == {"lineItems": 2, "results": 4}
