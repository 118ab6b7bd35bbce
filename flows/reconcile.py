"""Weekly SIS drift check: each enabled district's ``passback reconcile`` as a flow, its findings a
table artifact.  Thin: the library (``passback.sync.reconcile``) does the work; ``restore`` re-sends
what was deleted in the SIS through the district's own stage sequence (Prefect tasks)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.deployments import run_deployment
from prefect.states import Completed, Failed, State

from flows.district_sync import FlowSteps
from flows.nightly import enabled_districts
from passback.naming import safe_key
from passback.sync.reconcile import reconcile

DISTRICT_DEPLOYMENT = "district-reconcile/district-reconcile"


def run_name() -> str:
    from prefect.runtime import flow_run

    return f"reconcile-{safe_key(str(flow_run.parameters.get('district_id', '')))}"


@flow(name="district-reconcile", flow_run_name=run_name, log_prints=False)
async def district_reconcile(district_id: str, restore: bool = False) -> dict[str, Any]:
    """One district: read back, compare, report (an artifact); ``restore`` re-sends what was deleted.

    Args:
        district_id: The district: its Otus district id exactly as the source tables spell it
            (otus_*.district_id, e.g. HD1 or a UUID; case-sensitive). `passback district list` lists
            the registered districts.
        restore: Re-send what was deleted in the SIS by a normal sync (guards included: a tripped
            guard pauses it for approval). Off: report only, change nothing.
    """
    drift = await reconcile(district_id, restore=restore, steps=FlowSteps() if restore else None)
    rows = [
        {
            "kind": f["kind"],
            "finding": "edited in the SIS",
            "assessment": f["assessment_id"],
            "student": f["student_id"] or "",
            "field": f["field"],
            "passback sent": str(f["sent"]),
            "the SIS holds": str(f["sis"]),
        }
        for f in drift.edited_in_sis
    ]
    rows += [
        {
            "kind": f["kind"],
            "finding": "deleted in the SIS",
            "assessment": f["assessment_id"],
            "student": f["student_id"] or "",
            "field": "",
            "passback sent": "",
            "the SIS holds": "",
        }
        for f in drift.deleted_in_sis
    ]
    await acreate_table_artifact(
        key=f"reconcile-{safe_key(district_id).lower()}",
        table=rows or [{"kind": "", "finding": "no drift"}],
        description=f"district {district_id}: {drift.checked:,} objects compared; {len(drift.edited_in_sis):,} edited and "
        f"{len(drift.deleted_in_sis):,} deleted in the SIS"
        + (f"; {drift.restored:,} restored" if drift.restored else ""),
    )
    get_run_logger().info(
        "district %s: %d compared, %d edited, %d deleted in the SIS",
        district_id,
        drift.checked,
        len(drift.edited_in_sis),
        len(drift.deleted_in_sis),
    )
    return {"district": district_id, **drift.as_json()}


@flow(name="reconcile", log_prints=False)
async def reconcile_all(
    districts: tuple[str, ...] = (), max_concurrency: int = 2, dispatch: Literal["subflow", "deployment"] = "subflow"
) -> State:
    """Every enabled district (or the given ones), the same dispatch as the nightly run.

    Args:
        districts: The districts to reconcile, by their Otus district ids exactly as the source tables
            spell them (e.g. HD1 or a UUID; `passback district list` lists them). Empty: every enabled
            district.
        max_concurrency: Districts read back at the same time (each within its own rate limit).
        dispatch: subflow runs every district in this flow run's process; deployment runs each as a
            run of the district-reconcile deployment, on any worker of the pool.
    """
    ids = list(districts) or enabled_districts()
    gate = asyncio.Semaphore(max(1, max_concurrency))

    async def one(district_id: str) -> dict[str, Any]:
        async with gate:
            if dispatch == "deployment":
                run = await run_deployment(
                    DISTRICT_DEPLOYMENT,
                    parameters={"district_id": district_id},
                    timeout=None,  # type: ignore[misc]
                    as_subflow=True,
                )
                return {"district": district_id, "status": run.state.type.value if run.state else "unknown"}
            state = await district_reconcile(district_id, return_state=True)
            data = await state.result(raise_on_failure=False)  # type: ignore[misc]
            return data if isinstance(data, dict) else {"district": district_id, "error": state.message or str(data)}

    found = list(await asyncio.gather(*(one(d) for d in ids)))
    failed = [f for f in found if f.get("error")]
    if failed:
        return Failed(message="; ".join(f"{f['district']}: {f['error']}" for f in failed), data=found)
    return Completed(message=f"{len(found)} districts reconciled", data=found)
