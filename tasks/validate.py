"""Validate and transform: derived columns, the GX suites, payloads and the plan."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from passback.sync.district import DistrictRun, SisSnapshot
from passback.sync.evaluate import Evaluation
from tasks.cpu import off_loop


@task(name="validate-and-plan", cache_policy=NONE)
async def validate_and_plan(run: DistrictRun, source: Any, sis: SisSnapshot) -> Evaluation:
    """Tag every row with its first failing rule (GX) and diff the desired payloads with the ledger
    (off the event loop: ``tasks.cpu``)."""
    return await off_loop(run.evaluate, source, sis)
