"""Extract: the SIS pre-flight reads and the Otus source frames."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from passback.sync.district import DistrictRun, SisSnapshot
from tasks.cpu import off_loop

PREFLIGHT_RETRIES = 2  # × the client's attempts per request: the combined budget (docs/client.md)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what a retry can fix: the error says so (``OneRosterError.retriable``: the SIS was
    unreachable or busy beyond the client's budget), never a list of classes."""
    try:
        state.result(_sync=True)  # in Prefect's async engine a bare result() is an un-awaited coroutine
    except Exception as exc:  # noqa: BLE001
        return bool(getattr(exc, "retriable", False))
    return False


@task(
    name="preflight", cache_policy=NONE, retries=PREFLIGHT_RETRIES, retry_delay_seconds=5, retry_condition_fn=_transient
)
async def preflight(run: DistrictRun, client: Any) -> SisSnapshot:
    """Read the SIS's grading periods and categories (and prove the credentials work)."""
    return await run.preflight(client)


@task(name="extract", cache_policy=NONE)
async def extract(run: DistrictRun) -> Any:
    """Read the district's Otus assessments and scores into frames (off the event loop: ``tasks.cpu``)."""
    return await off_loop(run.extract)
