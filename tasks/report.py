"""Report: the run summary and validation report; the Prefect artifacts."""

from __future__ import annotations

import contextlib

from prefect import task
from prefect.artifacts import acreate_link_artifact, acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NONE

from passback.naming import safe_key
from passback.report.artifacts import is_url, summary_markdown
from passback.sync import helper
from passback.sync.district import DistrictRun
from passback.sync.evaluate import Evaluation
from passback.sync.load import LoadResult
from passback.sync.report import DistrictSummary
from tasks.cpu import off_loop


def artifact_key(district_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only (passback.naming)."""
    return "passback-" + safe_key(district_id)


@task(name="report", cache_policy=NONE)
async def report(run: DistrictRun, evaluation: Evaluation, load: LoadResult | None) -> DistrictSummary:
    """The summary and this run's validation report (the run record is finished by the sequence).
    Off the event loop (``tasks.cpu``); while several districts run, a small district's report is
    written by the helper process, on the other core (``passback.sync.helper``)."""
    summary, job = await off_loop(run.report_parts, evaluation, load)  # (reads the state DB: off the loop)
    if job is None:
        return summary
    if helper.wanted(job.rows):
        with contextlib.suppress(helper.HelperGone):  # it did not answer: written here instead
            return run.attach_report(summary, await helper.run(run.district_id, job.write))
    return run.attach_report(summary, await off_loop(job.write))


async def publish(summary: DistrictSummary) -> None:
    key = artifact_key(summary.district)
    data = summary.as_json()
    await acreate_markdown_artifact(
        markdown=summary_markdown(data), key=key, description=f"passback summary for {summary.district}"
    )
    rows = [
        {"kind": label, **counts} for label, counts in (("lineItems", summary.line_items), ("results", summary.results))
    ]
    await acreate_table_artifact(table=rows, key=f"{key}-outcomes", description="lineItems and results by outcome")
    if is_url(summary.data_docs):
        await acreate_link_artifact(
            link=str(summary.data_docs),
            link_text=f"validation report — {summary.district}",
            key=f"{key}-report",
            description="this run's validation report",
        )
