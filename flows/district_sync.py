"""One district's passback run: pre-flight -> extract -> validate -> plan -> load -> report."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from passback.report.artifacts import state_message, summary_line
from passback.naming import safe_key
from passback.sync.district import DistrictRun, RunOptions
from passback.sync.report import DistrictSummary
from tasks.extract import extract, preflight
from tasks.load import load
from tasks.report import publish, report
from tasks.validate import validate_and_plan


def run_name() -> str:
    """``district-<safe key of the id>``: the id as Otus spells it may differ from another only in case."""
    from prefect.runtime import flow_run

    return f"district-{safe_key(str(flow_run.parameters.get('district_id', '')))}"


@flow(name="district-sync", flow_run_name=run_name, log_prints=False)
async def district_sync(
    district_id: str,
    dry_run: bool = False,
    retry_rejected: bool = False,
    max_writes: int | None = None,
    max_seconds: float | None = None,
    lock_wait_s: float = 0.0,
) -> State:
    """Sync one district.  Ends Failed (with the summary as data) when the district failed."""
    options = RunOptions(dry_run=dry_run, retry_rejected=retry_rejected, max_writes=max_writes,
                         max_seconds=max_seconds, lock_wait_s=lock_wait_s)
    try:
        run = DistrictRun(district_id, options)
    except Exception as exc:  # unknown district, unreadable configuration
        summary = DistrictSummary(district=district_id, status="failed", error=str(exc))
        await publish(summary)
        return final_state(summary)
    return final_state(await run_district(run))


async def run_district(run: DistrictRun) -> DistrictSummary:
    """The stages as tasks; a failure becomes a failed summary (never an exception)."""
    logger = get_run_logger()
    evaluation = None
    try:
        with run.guarded():
            try:
                async with run.client() as client:
                    sis = await preflight(run, client)
                    source = extract(run)
                    evaluation = validate_and_plan(run, source, sis)
                    result = None if run.options.dry_run else await load(run, client, evaluation, sis)
                summary = await report(run, evaluation, result)
                logger.info("%s", summary_line(summary.as_json()))
                return summary
            except Exception as exc:
                summary = run.fail(exc, evaluation)
    except Exception as exc:  # the lock was not acquired: nothing was written
        summary = DistrictSummary(district=run.district_id, status="failed", error=str(exc))
    logger.error("%s", summary_line(summary.as_json()))
    await publish(summary)
    return summary


def final_state(summary: DistrictSummary) -> State:
    data = summary.as_json()
    if summary.status == "failed":
        return Failed(message=state_message(data), data=data)
    return Completed(message=state_message(data), data=data)

