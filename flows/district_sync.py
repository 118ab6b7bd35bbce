"""One district's passback run: pre-flight -> extract -> validate -> plan -> guard -> load -> report.

The order of the stages is ``passback.sync.sequence`` (written once, for every way a district
runs); this flow only says how each stage runs here: as a Prefect task, with artifacts and a log
line when the run is over — and, when a guard holds the night in a deployment run, by pausing the
flow run for a person's approval (the form in the Prefect UI; ``flows.approval``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from flows.approval import ask_for_approval
from passback.guards import GuardDecision
from passback.naming import safe_key
from passback.report.artifacts import state_message, summary_line
from passback.sync.district import DistrictRun, RunOptions
from passback.sync.report import DistrictSummary
from passback.sync.sequence import Steps, run_district
from tasks.extract import extract, preflight
from tasks.load import load
from tasks.report import publish, report
from tasks.validate import validate_and_plan


class FlowSteps(Steps):
    """The stages as Prefect tasks (retries, timings and states in the UI)."""

    async def preflight(self, run: DistrictRun, client: Any) -> Any:
        return await preflight(run, client)

    async def extract(self, run: DistrictRun) -> Any:
        return await extract(run)

    async def evaluate(self, run: DistrictRun, source: Any, sis: Any) -> Any:
        return await validate_and_plan(run, source, sis)

    async def guard(self, run: DistrictRun, evaluation: Any) -> GuardDecision:
        decision = await super().guard(run, evaluation)
        if decision.proceed or decision.hold is None:
            return decision
        return await ask_for_approval(run, decision)

    async def load(self, run: DistrictRun, client: Any, evaluation: Any, sis: Any) -> Any:
        return await load(run, client, evaluation, sis)

    async def report(self, run: DistrictRun, evaluation: Any, result: Any) -> DistrictSummary:
        return await report(run, evaluation, result)

    async def publish(self, run: DistrictRun | None, summary: DistrictSummary) -> None:
        logger = get_run_logger()
        (logger.error if summary.status == "failed" else logger.info)("%s", summary_line(summary.as_json()))
        await publish(summary)


def run_name() -> str:
    """``district-<safe key of the id>``: the id as Otus spells it may differ from another only in case."""
    from prefect.runtime import flow_run

    return f"district-{safe_key(str(flow_run.parameters.get('district_id', '')))}"


@flow(name="district-sync", flow_run_name=run_name, log_prints=False)
async def district_sync(
    district_id: str,
    dry_run: bool = False,
    retry_rejected: bool = False,
    max_writes: int = 0,
    max_seconds: float = 0.0,
    lock_wait_s: float = 0.0,
) -> State:
    """Sync one district: pre-flight, extract, validate, plan, guards, load, report.

    Ends Failed (with the summary as data) when the district failed; pauses for approval when a
    guard trips (Completed named "Held" when rejected or unanswered: nothing written).

    Args:
        district_id: The district to sync: its Otus district id exactly as the source tables spell it
            (otus_*.district_id, e.g. HD1 or a UUID; case-sensitive). `passback district list` lists
            the registered districts.
        dry_run: Plan only: evaluate every row and report what would be written, but write nothing to
            the SIS.
        retry_rejected: Resend the items the SIS rejected before with the same payload (otherwise they
            wait until they change in Otus).
        max_writes: Stop after this many writes; the next run resumes. 0: the district's own limit
            (`passback district set ID --max-writes-per-run N`), none if it has none.
        max_seconds: Start no new write after this many seconds; the next run resumes. 0: no time limit.
        lock_wait_s: Seconds to wait for another run of the same district to end. 0: end at once,
            naming the district, when another run holds it.
    """
    options = RunOptions(
        dry_run=dry_run,
        retry_rejected=retry_rejected,
        max_writes=max_writes or None,
        max_seconds=max_seconds or None,
        lock_wait_s=lock_wait_s,
        flow_run_id=current_flow_run_id(),
    )
    return final_state(await run_district(district_id, options, FlowSteps()))


def current_flow_run_id() -> str | None:
    """The id of the flow run this code runs in (kept in the district's run record)."""
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None


def final_state(summary: DistrictSummary) -> State:
    """Failed for a failed district; Completed named "Held" when a guard held it (nothing written)."""
    data = summary.as_json()
    if summary.status == "failed":
        return Failed(message=state_message(data), data=data)
    if summary.status == "held":
        return Completed(name="Held", message=state_message(data), data=data)
    return Completed(message=state_message(data), data=data)
