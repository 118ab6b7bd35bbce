"""Backfill after an effective-date change: preview the plan, then (when asked) apply it."""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.states import State

from flows.district_sync import district_sync, final_state
from passback.report import backfill as preview
from passback.report.artifacts import summary_line
from passback.naming import safe_key
from passback.store import districts as store_districts
from passback.sync.district import DistrictRun, RunOptions
from tasks.extract import extract, preflight
from tasks.report import artifact_key
from tasks.validate import validate_and_plan


def run_name() -> str:
    """``backfill-<safe key of the id>-<date>``."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"backfill-{safe_key(str(params.get('district_id', '')))}-{params.get('effective_date')}"


@flow(name="backfill", flow_run_name=run_name)
async def backfill(district_id: str, effective_date: dt.date, dry_run: bool = True) -> State:
    """Evaluate the district with the new effective date and publish the preview as an artifact:
    each assessment whose status changes (old and new reason) and the writes applying it would cause.

    ``dry_run`` (the default) changes nothing.  Otherwise the new effective date is stored and
    the district is synced: only items that are new or changed are written."""
    run = DistrictRun(district_id, RunOptions(dry_run=True, effective_date=effective_date))
    with run.guarded():
        async with run.client() as client:
            sis = await preflight(run, client)
            source = extract(run)
            evaluation = validate_and_plan(run, source, sis)
        before = preview.current_reasons(run, source, sis)
        summary = run.report(evaluation, None)
        summary.backfill = preview.preview(district_id, run.district.effective_date, effective_date, before, evaluation).as_json()
        run.finish(summary)
    get_run_logger().info("%s", summary_line(summary.as_json()))
    await acreate_markdown_artifact(
        key=f"{artifact_key(district_id)}-backfill", markdown=preview.markdown(summary.backfill),
        description=f"backfill preview for {district_id}: effective date {effective_date}",
    )
    if dry_run:
        return final_state(summary)
    store_districts.update_district(run.engine, district_id, effective_date=effective_date)
    return await district_sync(district_id)
