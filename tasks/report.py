"""Report: the run summary, Data Docs, the Prefect artifacts and the run history row."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NONE

from passback.naming import safe_key
from passback.sync.district import DistrictRun
from passback.sync.evaluate import Evaluation
from passback.sync.load import LoadResult
from passback.sync.report import DistrictSummary, markdown


def artifact_key(district_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only: ``safe_key`` keeps ids
    that differ only in case (``HD1``, ``hd1``) apart."""
    return "passback-" + safe_key(district_id)


@task(name="report", cache_policy=NONE)
async def report(run: DistrictRun, evaluation: Evaluation, load: LoadResult | None) -> DistrictSummary:
    summary = run.report(evaluation, load)
    run.finish(summary)
    await publish(summary)
    return summary


async def publish(summary: DistrictSummary) -> None:
    key = artifact_key(summary.district)
    await acreate_markdown_artifact(markdown=markdown(summary), key=key, description=f"passback summary for {summary.district}")
    rows = [{"kind": label, **counts} for label, counts in (("lineItems", summary.line_items), ("results", summary.results))]
    await acreate_table_artifact(table=rows, key=f"{key}-outcomes", description="lineItems and results by outcome")
