"""A held night in a deployment run pauses for approval (a real Prefect server and process worker).

The district-sync deployment pauses with the guard's markdown above its form; the test answers
through the REST API as the UI's Resume button does.  Approved: the run goes on and writes — and
only then does the simulator's gradebook hold anything.  Rejected, or no answer in time: the run
ends "Held" and nothing is written.  While paused, the district's lock stays held past the
takeover time (shortened to 4 s in the session's Prefect stack): another run of the district is refused.
The three districts' runs start together (the worker runs up to four at once), each test then
answers its own.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from passback.store import holds as store_holds
from passback.store import runs as store_runs
from passback.store.db import get_engine
from passback.store.models import DistrictLock, utcnow
from tests.factory import as_district, merge, scenario_for, world, write_source
from tests.prefect_stack import LOCK_TAKEOVER_S, PrefectStack, passback_home
from tests.toolkit import Sis, register, run_sync

pytestmark = pytest.mark.slow

DISTRICTS = ("dA", "dR", "dT")
STUDENT_NAMES = ("Sam One", "Sue Two", "Otto Only", "u-s1", "sky-s1")  # the factory's students: never in the Prefect UI


@dataclass
class Stack:
    prefect: PrefectStack
    sis: Sis
    flow_runs: dict[str, str]  # district -> its deployment run, started together


@pytest.fixture(scope="module")
def stack(prefect_stack: PrefectStack) -> Iterator[Stack]:
    from passback.simulator.server import SimulatorThread

    with passback_home(prefect_stack.home, PASSBACK_LOCK_TAKEOVER_S=str(LOCK_TAKEOVER_S)):
        worlds = {d: as_district(world(), d) for d in DISTRICTS}
        write_source(merge(*worlds.values()), get_settings().source_db_url)
        with SimulatorThread(Scenario(districts=[scenario_for(w, tenant=d) for d, w in worlds.items()])) as sim:
            for d in DISTRICTS:  # any night writing more than one item is held (the factory world writes two)
                register(d, sim.url, guard_writes=1, guard_timeout_h=(16 / 3600 if d == "dT" else 1.0))
            runs = {d: prefect_stack.run_deployment("district-sync/district-sync", district_id=d) for d in DISTRICTS}
            yield Stack(prefect_stack, Sis(sim.url), runs)


def engine() -> Any:
    return get_engine(get_settings().state_db_url)


def gradebook(sis: Sis, district: str) -> tuple[int, int]:
    state = sis.state(district)
    return len(state["lineItems"]), len(state["results"])


def last_summary(district: str) -> dict[str, Any]:
    run = store_runs.recent_runs(engine(), district, 1)[0]
    return json.loads(run.counts)


def paused(stack: Stack, district: str) -> str:
    flow_run = stack.flow_runs[district]
    state = stack.prefect.wait(flow_run, "PAUSED", timeout=240)
    assert state["type"] == "PAUSED", state
    return flow_run


def test_approved_in_the_form_the_run_writes_and_only_then(stack: Stack) -> None:
    prefect, sis = stack.prefect, stack.sis
    flow_run = paused(stack, "dA")
    assert gradebook(sis, "dA") == (0, 0)
    description = next(v for k, v in prefect.inputs(flow_run).items() if k.endswith("-description"))
    assert "tonight's plan is held for approval" in description and "**writes** ✘" in description
    assert "| top assessments | title | writes |" in description and "Fractions quiz" in description
    assert not any(name in description for name in STUDENT_NAMES)
    hold = store_holds.latest_open(engine(), "dA")
    assert hold is not None and (hold.status, hold.flow_run_id) == ("paused", flow_run)

    time.sleep(3 * LOCK_TAKEOVER_S)  # paused longer than the takeover time: the lock is still alive ...
    lock = get_engine(get_settings().state_db_url)
    from sqlmodel import Session

    with Session(lock) as s:
        row = s.get(DistrictLock, "dA")
        assert row is not None and utcnow() - row.heartbeat_at < dt.timedelta(seconds=LOCK_TAKEOVER_S)
    busy = run_sync("dA")  # ... and another run of the district is refused
    assert busy.status == "failed" and "is being synced by another run" in (busy.error or "")
    assert gradebook(sis, "dA") == (0, 0)

    prefect.resume(flow_run, decision="approve", note="checked with the teacher", approver="Tess")
    final = prefect.wait(flow_run, timeout=240)
    assert (final["type"], final["name"]) == ("COMPLETED", "Completed"), final
    assert gradebook(sis, "dA") == (1, 1)
    summary = last_summary("dA")
    assert summary["status"] == "completed" and summary["writes"] == 2
    assert (
        summary["approvals"][0]["decided_by"] == "Tess"
        and summary["approvals"][0]["note"] == "checked with the teacher"
    )
    assert store_holds.get_hold(engine(), hold.id).status == "applied"
    with Session(lock) as s:
        assert s.get(DistrictLock, "dA") is None  # released when the run ended


def test_rejected_in_the_form_the_run_ends_held(stack: Stack) -> None:
    prefect, sis = stack.prefect, stack.sis
    flow_run = paused(stack, "dR")
    prefect.resume(flow_run, decision="reject", note="wrong due date", approver="Tess")
    final = prefect.wait(flow_run, timeout=240)
    assert (final["type"], final["name"]) == ("COMPLETED", "Held"), final
    assert "held for approval, nothing written" in final["message"]
    assert gradebook(sis, "dR") == (0, 0)
    summary = last_summary("dR")
    assert summary["status"] == "held" and summary["writes"] == 0
    assert (summary["hold"]["status"], summary["hold"]["decided_by"], summary["hold"]["note"]) == (
        "rejected",
        "Tess",
        "wrong due date",
    )


def test_no_answer_in_time_ends_held_and_passback_approve_still_works(stack: Stack) -> None:
    from tests.toolkit import cli

    prefect, sis = stack.prefect, stack.sis
    flow_run = stack.flow_runs["dT"]
    final = prefect.wait(flow_run, timeout=240)  # nobody answers for the district's 16 s
    assert (final["type"], final["name"]) == ("COMPLETED", "Held"), final
    history = [state["type"] for state in prefect.get(f"/flow_run_states/?flow_run_id={flow_run}")]
    assert "PAUSED" in history, history  # it waited for an answer (it may have ended before this test began)
    assert "no answer within" in final["message"]
    assert gradebook(sis, "dT") == (0, 0)
    hold = store_holds.latest_open(engine(), "dT")
    assert hold is not None and hold.status == "held"  # open again: the morning's `passback approve`
    ran = cli("approve", "dT", "--by", "on-call")
    assert ran.code == 0, ran.err
    assert run_sync("dT").writes == 2 and gradebook(sis, "dT") == (1, 1)
