"""The nightly passback: every enabled district (or the given ones), several at once.

One district's failure never stops the others; the run ends Failed when any district failed,
and its message and summary artifact say which and why — and which districts a guard held for
approval (nothing written for them), with the guard that tripped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.deployments import run_deployment
from prefect.states import Completed, Failed, State

from flows.district_sync import district_sync
from passback.report.artifacts import is_url
from passback.settings import get_settings
from passback.store import districts as store_districts
from passback.store import runs as store_runs
from passback.store.db import get_engine
from passback.sync import helper

DISTRICT_DEPLOYMENT = "district-sync/district-sync"


@flow(name="nightly-passback", log_prints=False)
async def nightly(
    districts: tuple[str, ...] = (),
    dry_run: bool = False,
    retry_rejected: bool = False,
    max_concurrency: int = 4,
    dispatch: Literal["subflow", "deployment"] = "subflow",
    max_seconds: float = 0.0,
) -> State:
    """Sync every enabled district (or the given ones), several at once.

    Each district runs as a subflow, or as a run of the district-sync deployment so that districts
    spread over the work pool's workers. One district's failure never stops the others; the run
    ends Failed when any district failed, saying which and why.

    Args:
        districts: The districts to sync, by their Otus district ids exactly as the source tables spell
            them (e.g. HD1 or a UUID; `passback district list` lists them). Empty: every enabled
            district.
        dry_run: Plan only: evaluate and report what would be written, but write nothing to the SIS.
        retry_rejected: Resend the items the SIS rejected before with the same payload (otherwise they
            wait until they change in Otus).
        max_concurrency: Districts synced at the same time (each keeps up to 8 requests in flight).
        dispatch: subflow runs every district in this flow run's process; deployment runs each as a
            run of the district-sync deployment, on any worker of the pool.
        max_seconds: Per district, start no new write after this many seconds; the next run resumes.
            0: no time limit.
    """
    logger = get_run_logger()
    ids = list(districts) or enabled_districts()
    gate = asyncio.Semaphore(max(1, max_concurrency))

    async def one(district_id: str) -> dict[str, Any]:
        async with gate:
            params = {
                "district_id": district_id,
                "dry_run": dry_run,
                "retry_rejected": retry_rejected,
                "max_seconds": max_seconds,
            }
            if dispatch == "deployment":
                flow_run = await run_deployment(DISTRICT_DEPLOYMENT, parameters=params, timeout=None, as_subflow=True)  # type: ignore[misc]
                return await child_summary(district_id, flow_run)
            state = await district_sync(**params, return_state=True)
            data = await state.result(raise_on_failure=False)  # type: ignore[misc]
            if isinstance(data, dict):
                return data
            return {"district": district_id, "status": "failed", "error": state.message or str(data)}

    several = dispatch == "subflow" and len(ids) > 1 and max_concurrency > 1
    with helper.several_at_once() if several else contextlib.nullcontext():  # validation and reports on the other core
        summaries = list(await asyncio.gather(*(one(d) for d in ids)))
    await acreate_table_artifact(
        key="passback-nightly",
        table=[
            {
                "district": s["district"],
                "status": s["status"],
                "writes": s.get("writes", 0),
                "held_back": sum(int(v) for v in (s.get("reasons") or {}).values()),
                "report": s.get("data_docs") if is_url(s.get("data_docs")) else "",
                "error": s.get("error") or "",
                "held_by_guards": held_why(s),
            }
            for s in summaries
        ],
        description="nightly passback: one row per district",
    )
    failed = [s for s in summaries if s["status"] == "failed"]
    waiting = [s for s in summaries if s["status"] == "held"]
    on_hold = (
        (
            f"; {len(waiting)} held for approval (nothing written) — "
            + "; ".join(f"{s['district']}: {held_why(s)}" for s in waiting)
        )
        if waiting
        else ""
    )
    if waiting:
        logger.warning("%d of %d districts held for approval%s", len(waiting), len(summaries), on_hold)
    result = {"districts": summaries}
    if failed:
        detail = "; ".join(f"{s['district']}: {s.get('error')}" for s in failed)
        logger.error("%d of %d districts failed: %s", len(failed), len(summaries), detail)
        return Failed(message=f"{len(failed)} of {len(summaries)} districts failed — {detail}{on_hold}", data=result)
    writes = sum(int(s.get("writes") or 0) for s in summaries)
    held = sum(int(v) for s in summaries for v in (s.get("reasons") or {}).values())
    return Completed(
        message=f"{len(summaries)} districts synced: {writes:,} writes, {held:,} rows held back{on_hold}", data=result
    )


def held_why(summary: dict[str, Any]) -> str:
    """Why a guard held the district ("" when it was not held)."""
    if summary.get("status") != "held":
        return ""
    return str((summary.get("hold") or {}).get("why") or "a guard tripped")


def enabled_districts() -> list[str]:
    engine = get_engine(get_settings().state_db_url)
    return [d.id for d in store_districts.list_districts(engine) if d.enabled]


async def child_summary(district_id: str, flow_run: Any) -> dict[str, Any]:
    """The summary of THAT dispatched child run (never the district's latest run: when a child ends
    before it records a run, the latest one is an earlier night's).  Its own result when this process
    can read it (persisted in shared result storage); else the run record that child wrote, found by
    its flow run id; else its state (crashed, cancelled, failed before recording a run) says why."""
    state = flow_run.state
    try:
        data = await state.result(raise_on_failure=False) if state is not None else None
    except Exception:  # noqa: BLE001 - not persisted, or stored where this worker cannot read it
        data = None
    if isinstance(data, dict) and data.get("district") == district_id:
        return data
    engine = get_engine(get_settings().state_db_url)
    run = store_runs.run_of_flow_run(engine, district_id, str(flow_run.id))
    if run is not None and run.status != "running" and run.counts:
        counts = run.counts
        return counts if isinstance(counts, dict) else json.loads(counts)
    what = (
        f"{state.name}: {state.message}" if state is not None and state.message else getattr(state, "name", "no state")
    )
    recorded = f"; its run {run.id} was left {run.status}" if run is not None else "; it recorded no run"
    return {
        "district": district_id,
        "status": "failed",
        "error": f"the district-sync run {flow_run.name} ({flow_run.id}) ended {what}{recorded}",
    }
