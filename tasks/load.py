"""Load: write the plan to the SIS (per-request retries live in the client, not here)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from passback.sync.district import DistrictRun, SisSnapshot
from passback.sync.evaluate import Evaluation
from passback.sync.load import LoadResult


@task(name="load", cache_policy=NONE)
async def load(run: DistrictRun, client: Any, evaluation: Evaluation, sis: SisSnapshot) -> LoadResult:
    """lineItems before their results, newest grading period first; ledger rows per acknowledged batch.

    No task retries: a task retry would re-run the whole load; the client retries each request
    within its budget and the ledger makes a later run resume where this one stopped."""
    return await run.load(client, evaluation, sis)
