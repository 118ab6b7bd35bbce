"""Validate and transform: derived columns, the GX suites, payloads and the plan."""

from __future__ import annotations

import contextlib
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from passback.sync import helper
from passback.sync.district import DistrictRun, SisSnapshot
from passback.sync.evaluate import Evaluation, classify
from tasks.cpu import off_loop


@task(name="validate-and-plan", cache_policy=NONE)
async def validate_and_plan(run: DistrictRun, source: Any, sis: SisSnapshot) -> Evaluation:
    """Tag every row with its first failing rule (GX) and diff the desired payloads with the ledger
    (off the event loop: ``tasks.cpu``).  While several districts run, a small district's rows are
    classified by the helper process, on the other core (``passback.sync.helper``)."""
    if helper.wanted(len(source.scores)):
        context = await off_loop(run.context, sis)
        with contextlib.suppress(helper.HelperGone):  # no answer: classified here instead
            classified = await helper.run(run.district_id, classify, source, context)
            return await off_loop(run.evaluate, source, sis, context=context, classified=classified)
    return await off_loop(run.evaluate, source, sis)
