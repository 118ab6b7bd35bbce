"""THE sequence of a district run, written once: every way of running a district goes through it.

    lock + run record -> pre-flight (SIS reads) -> extract (Otus source) -> evaluate (derive, GX,
    payloads, plan) -> guard (write, or hold for a person) -> load (writes, ledger acks; not on a
    dry run, not when held) -> report -> finish -> publish

``Steps`` says HOW each stage runs; the sequence says in WHICH ORDER and what a failure becomes.
The base class runs each stage as a plain call (the library, benchmarks, tests); the flows
subclass it to run the stages as Prefect tasks and to publish artifacts — no flow writes the
stages out again.  Whatever fails (the lock, the district's configuration, a stage) ends as ONE
failed summary with the run record finished: a district run never raises.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from passback.guards import GuardDecision, guard_district
from passback.sync import progress
from passback.sync.report import DistrictSummary

if TYPE_CHECKING:  # pragma: no cover
    from passback.oneroster.client import OneRosterClient
    from passback.sync.district import DistrictRun, RunOptions, SisSnapshot
    from passback.sync.evaluate import Evaluation
    from passback.sync.load import LoadResult

log = logging.getLogger("passback.sync")
MAX_REPLANS = 3  # approved while paused, the plan is made again; a plan that keeps changing ends held


class Steps:
    """How each stage runs.  Override a method to wrap its stage (a Prefect task, a timer, a pause)."""

    def stage(self, run: DistrictRun, name: str) -> None:
        """A stage starts: the process's progress listeners hear it (``passback.sync.progress``)."""
        progress.stage(run.district_id, name)

    async def preflight(self, run: DistrictRun, client: OneRosterClient) -> SisSnapshot:
        return await run.preflight(client)

    async def extract(self, run: DistrictRun) -> Any:
        return run.extract()

    async def evaluate(self, run: DistrictRun, source: Any, sis: SisSnapshot) -> Evaluation:
        return run.evaluate(source, sis)

    async def guard(self, run: DistrictRun, evaluation: Evaluation) -> GuardDecision:
        """Check the plan against the district's guards.  Here a tripped guard ends the district
        ``held`` (nothing written) until ``passback approve``; the flows pause for approval instead."""
        decision = guard_district(run, evaluation)
        if decision.hold:
            log.warning(
                "district %s held: %s — nothing written; approve with `%s`",
                run.district_id,
                decision.hold["why"],
                decision.hold["command"],
            )
        return decision

    async def load(
        self, run: DistrictRun, client: OneRosterClient, evaluation: Evaluation, sis: SisSnapshot
    ) -> LoadResult:
        return await run.load(client, evaluation, sis)

    async def report(self, run: DistrictRun, evaluation: Evaluation, load: LoadResult | None) -> DistrictSummary:
        return run.report(evaluation, load)

    async def publish(self, run: DistrictRun | None, summary: DistrictSummary) -> None:
        """After the run record is finished (also for a failed run): artifacts, log lines."""
        if summary.status == "failed":
            log.error("district %s failed: %s", summary.district, summary.error)


async def run_district(
    district_id: str, options: RunOptions | None = None, steps: Steps | None = None, **run_kw: Any
) -> DistrictSummary:
    """Build the district's run and execute it; an unknown or unreadable district is a failed summary."""
    from passback.sync.district import DistrictRun, RunOptions

    steps = steps or Steps()
    try:
        run = DistrictRun(district_id, options or RunOptions(), **run_kw)
    except Exception as exc:  # noqa: BLE001 - unknown district, unreadable configuration: nothing was written
        summary = DistrictSummary(district=district_id, status="failed", error=str(exc))
        await steps.publish(None, summary)
        progress.finished(district_id, summary.status, 0)
        return summary
    return await execute(run, steps)


async def execute(run: DistrictRun, steps: Steps | None = None) -> DistrictSummary:
    """The stages of one district run, in order, under the district's lock."""
    steps = steps or Steps()
    evaluation: Evaluation | None = None
    started: dict[str, float] = {}  # stage -> when it began (perf_counter): the summary's stage_seconds

    def begin(name: str) -> None:
        steps.stage(run, name)
        started[name] = time.perf_counter()

    try:
        with run.guarded(), frozen_heap():
            try:
                async with run.client() as client:
                    begin("pre-flight")
                    sis = await steps.preflight(run, client)
                    begin("extract")
                    source = await steps.extract(run)
                    begin("validate and plan")
                    evaluation = await steps.evaluate(run, source, sis)
                    preview = run.backfill_preview(source, sis, evaluation) if run.kind == "backfill" else None
                    del source  # the frames of the source are not needed by the load
                    begin("guards")
                    run.decision = await steps.guard(run, evaluation)
                    for _ in range(MAX_REPLANS):  # approved while paused: the source may have changed meanwhile
                        if not run.decision.replan:
                            break
                        evaluation = await steps.evaluate(run, await steps.extract(run), sis)
                        run.decision = await steps.guard(run, evaluation)
                    if run.decision.replan:
                        run.decision = replanned_too_often(run.decision)
                    writes = not run.options.dry_run and run.decision.proceed
                    if writes:
                        begin("load")
                    load = await steps.load(run, client, evaluation, sis) if writes else None
                begin("report")
                summary = await steps.report(run, evaluation, load)
                summary.stage_seconds = {**stage_seconds(started, time.perf_counter()), **summary.stage_seconds}
                summary.backfill = preview
                run.finish(summary)
                run.decision.after(run, summary)
            except Exception as exc:  # noqa: BLE001 - a stage failed: the run record says why
                summary = run.fail(exc, evaluation)
    except Exception as exc:  # noqa: BLE001 - the lock was not acquired (another run) or lost: nothing was written
        summary = DistrictSummary(district=run.district_id, status="failed", error=str(exc))
    await steps.publish(run, summary)
    progress.finished(summary.district, summary.status, summary.writes)
    return summary


_frozen = 0  # district runs now under frozen_heap (several run at once in the nightly flow)
_frozen_lock = threading.Lock()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the cyclic collector off what the process held before the run.

    A worker process holds 0.4-0.7 million long-lived objects from its imports (Great Expectations,
    Prefect, pydantic).  Each full collection during a run walks all of them again: 0.3-0.7 s per
    collection in the quiet night of the largest district (bench ``noop-L``).  ``gc.freeze`` moves
    them to the permanent generation for the run; the run's own objects are collected as before.
    The first run to start freezes, the last to end unfreezes (runs overlap in one process).
    """
    global _frozen
    with _frozen_lock:
        if _frozen == 0:
            gc.freeze()
        _frozen += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen -= 1
            if _frozen == 0:
                gc.unfreeze()


def stage_seconds(started: dict[str, float], end: float) -> dict[str, float]:
    """Each stage's wall seconds: from its start to the next one's (the last one's to ``end``);
    ``started`` holds the stages in the order they began."""
    marks = list(started.items())
    ends = [t for _, t in marks[1:]] + [end]
    return {name: stop - t for (name, t), stop in zip(marks, ends, strict=True)}


def replanned_too_often(decision: GuardDecision) -> GuardDecision:
    """Approved again and again while the plan kept changing: end held (the last plan stays open)."""
    hold = dict(decision.hold or {}) | {
        "why": f"the plan changed after each of {MAX_REPLANS} approvals; approve it when the Otus data has settled"
    }
    return GuardDecision(decision.check, proceed=False, hold=hold)
