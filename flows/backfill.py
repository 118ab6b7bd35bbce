"""Backfill after an effective-date change: preview the plan, then (when asked) apply it."""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.states import State

from flows.district_sync import FlowSteps, current_flow_run_id, district_sync, final_state
from passback.naming import safe_key
from passback.report import backfill as preview
from passback.report.artifacts import summary_line
from passback.store import districts as store_districts
from passback.sync.district import DistrictRun, RunOptions
from passback.sync.report import DistrictSummary
from passback.sync.sequence import run_district
from tasks.report import artifact_key


class PreviewSteps(FlowSteps):
    """The district's stages as tasks; what is published is the preview (not a sync's summary)."""

    async def publish(self, run: DistrictRun | None, summary: DistrictSummary) -> None:
        get_run_logger().info("%s", summary_line(summary.as_json()))
        if summary.backfill:
            await acreate_markdown_artifact(
                key=f"{artifact_key(summary.district)}-backfill",
                markdown=preview.markdown(summary.backfill) + guard_note(summary),
                description=f"backfill preview for {summary.district}: effective date {summary.detail}",
            )


def guard_note(summary: DistrictSummary) -> str:
    """The preview says when applying it would be held for approval (the guards of every sync apply)."""
    if not summary.guards:
        return "\n\nApplying it stays within the district's guards."
    rows = "\n".join(
        f"| {g['name']} | {g['value']:,} | {g['limit']:,} | {'—' if g['usual'] is None else g['usual']} |"
        for g in summary.guards
    )
    return (
        "\n\n## Applying it will be held for approval\n\nThe sync that applies it trips these guards: it pauses "
        "for a person's approval before its first write (or ends held; then `passback approve`).\n\n"
        "| guard | would be | limit | usual |\n|---|---|---|---|\n" + rows
    )


def run_name() -> str:
    """``backfill-<safe key of the id>-<date>``."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"backfill-{safe_key(str(params.get('district_id', '')))}-{params.get('effective_date')}"


@flow(name="backfill", flow_run_name=run_name)
async def backfill(district_id: str, effective_date: dt.date, dry_run: bool = True) -> State:
    """Preview (the default) or apply a new effective date for one district.

    The preview evaluates the district with the new effective date and publishes it as an artifact:
    each assessment whose status changes (old and new reason) and the writes applying it would cause.
    Applying stores the new date and syncs the district: only items that are new or changed are
    written — through the guards of every sync, so a large backfill pauses for approval (its size
    and what drives it shown).

    Args:
        district_id: The district: its Otus district id exactly as the source tables spell it
            (otus_*.district_id, e.g. HD1 or a UUID; case-sensitive). `passback district list` lists
            the registered districts.
        effective_date: The new effective date (YYYY-MM-DD): assessments assigned on or after it pass
            back.
        dry_run: Preview only, changing nothing (the default). Off: store the date and sync.
    """
    summary = await run_district(
        district_id,
        RunOptions(dry_run=True, effective_date=effective_date, flow_run_id=current_flow_run_id()),
        PreviewSteps(),
    )
    if dry_run or summary.status == "failed":
        return final_state(summary)
    engine = DistrictRun(district_id).engine
    store_districts.update_district(engine, district_id, effective_date=effective_date)
    return await district_sync(district_id)
