"""The nightly parent reads each dispatched district from THAT child run (its run record, found by the
child's flow run id), never from the district's latest run — which is an earlier night's when the
child ended before it recorded a run."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Crashed

from passback.settings import get_settings
from passback.store import runs as store_runs
from passback.store.db import get_engine


def child(state: Any) -> FlowRun:
    return FlowRun(id=uuid.uuid4(), name="district-d1", flow_id=uuid.uuid4(), state=state)


def recorded(flow_run_id: str | None, status: str, writes: int) -> str:
    engine = get_engine(get_settings().state_db_url)
    run_id = store_runs.start_run(engine, "d1", "sync", flow_run_id)
    if status != "running":
        store_runs.finish_run(engine, run_id, status, {"district": "d1", "status": status, "writes": writes}, None)
    return run_id


def summary_of(flow_run: FlowRun) -> dict[str, Any]:
    from flows.nightly import child_summary

    return asyncio.run(child_summary("d1", flow_run))


def test_a_child_that_died_before_recording_a_run_is_failed_not_last_nights_run(state_url: str) -> None:
    recorded(str(uuid.uuid4()), "completed", 42)  # last night
    tonight = child(Crashed(message="Flow run infrastructure exited with non-zero status code -9."))
    summary = summary_of(tonight)
    assert summary["status"] == "failed" and summary.get("writes") != 42
    assert "Crashed" in summary["error"] and "exited with non-zero status code -9" in summary["error"]
    assert str(tonight.id) in summary["error"] and "recorded no run" in summary["error"]


def test_a_child_reads_the_run_it_recorded_itself(state_url: str) -> None:
    tonight = child(Completed(message="district d1: completed"))
    recorded(str(uuid.uuid4()), "completed", 42)  # another run of the district, recorded later
    recorded(str(tonight.id), "partial", 7)
    assert summary_of(tonight) == {"district": "d1", "status": "partial", "writes": 7}


def test_a_child_killed_mid_run_is_failed_naming_its_unfinished_run(state_url: str) -> None:
    tonight = child(Crashed(message="killed"))
    run_id = recorded(str(tonight.id), "running", 0)
    summary = summary_of(tonight)
    assert summary["status"] == "failed" and run_id in summary["error"] and "left running" in summary["error"]
