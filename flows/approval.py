"""A held district asks a person: the flow run pauses with a form (approve or reject, with a note).

Only a deployment run (or a subflow of one) pauses: a worker keeps the process alive and the
Prefect UI can resume it.  Anywhere else — the CLI's temporary Prefect API, a flow called from a
script — the district ends ``held`` and ``passback approve`` answers later.  Either way the hold is
announced with a ``passback.district.held`` event (the alert automation listens for it) and its
markdown is published as an artifact.

The pause waits ``guard_timeout_h`` (a district setting, 12 h by default).  The server's own pause
timeout is set later than that, so that when nobody answered the run resumes itself, ends held,
and the plan stays open for ``passback approve`` (an expired Prefect pause would fail the run).
While paused the district's lock stays held: it heartbeats on its own thread.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from prefect import get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput
from prefect.states import Running
from pydantic import Field

from passback.guards import GuardDecision, answered, unanswered
from passback.naming import safe_key
from passback.store import holds as store_holds
from tasks.report import artifact_key

HELD_EVENT = "passback.district.held"
PAUSE_MARGIN_S = 600  # the server expires the pause this long after the run stopped waiting
POLL_S = 5
MAX_PARENTS = 5


class GuardAnswer(RunInput):
    """The form of a paused district run."""

    decision: Literal["approve", "reject"] = Field(
        default="reject",
        description="approve: write the plan shown above; reject: write nothing (the district ends held)",
    )
    note: str = Field(default="", description="why (kept in the run history)")
    approver: str = Field(default="", description="your name (kept in the run history)")


async def ask_for_approval(run: Any, decision: GuardDecision) -> GuardDecision:
    """Announce the hold; in a deployment run, pause for the answer and return it as a decision."""
    logger = get_run_logger()
    hold = decision.hold or {}
    announce(run.district_id, hold)
    await acreate_markdown_artifact(
        key=f"{artifact_key(run.district_id)}-held",
        markdown=decision.markdown or "",
        description=f"held for approval: {run.district_id}",
    )
    context = FlowRunContext.get()
    if context is None or not await resumable(context.flow_run):
        logger.warning(
            "district %s held: %s — nothing written; approve with `%s`",
            run.district_id,
            hold.get("why"),
            hold.get("command"),
        )
        return decision
    flow_run_id = str(context.flow_run.id)  # type: ignore[union-attr]
    store_holds.mark_paused(run.engine, hold["id"], flow_run_id)
    hours = float(getattr(run.district, "guard_timeout_h", None) or 12.0)
    logger.warning(
        "district %s held: %s — paused for approval (the Resume form; %g h at most)",
        run.district_id,
        hold.get("why"),
        hours,
    )
    form = GuardAnswer.with_initial_data(description=decision.markdown, decision="reject")
    try:
        answer = await asyncio.wait_for(
            apause_flow_run(
                wait_for_input=form,
                timeout=int(hours * 3600) + PAUSE_MARGIN_S,
                poll_interval=POLL_S,
                key=f"guard-{hold['id']}",
            ),
            timeout=hours * 3600,
        )
    except TimeoutError:
        async with get_client() as client:  # tasks (the report) run only in a running flow run
            await client.set_flow_run_state(flow_run_id, Running(message=f"no answer within {hours:g} h: held"))
        logger.warning("district %s: no answer within %g h; the district ends held", run.district_id, hours)
        return unanswered(run, decision, hours)
    approve = answer.decision == "approve"
    by = answer.approver.strip() or "Prefect UI"
    logger.info(
        "district %s: %s by %s%s",
        run.district_id,
        "approved" if approve else "rejected",
        by,
        f" — {answer.note}" if answer.note else "",
    )
    return answered(run, decision, approve=approve, by=by, note=answer.note.strip() or None)


def announce(district_id: str, hold: dict[str, Any]) -> None:
    """The event the alert automation listens for (district, cause, how to approve)."""
    emit_event(
        event=HELD_EVENT,
        resource={
            "prefect.resource.id": f"passback.district.{safe_key(district_id)}",
            "prefect.resource.name": district_id,
        },
        payload={
            "district": district_id,
            "cause": str(hold.get("why") or ""),
            "writes": int(hold.get("writes") or 0),
            "command": str(hold.get("command") or ""),
        },
    )


async def resumable(flow_run: Any) -> bool:
    """A deployment run, or a subflow of one: a worker keeps it alive and the UI can resume it."""
    if flow_run.deployment_id is not None:
        return True
    async with get_client() as client:
        for _ in range(MAX_PARENTS):
            if flow_run.parent_task_run_id is None:
                return False
            parent_task = await client.read_task_run(flow_run.parent_task_run_id)
            if parent_task.flow_run_id is None:
                return False
            flow_run = await client.read_flow_run(parent_task.flow_run_id)
            if flow_run.deployment_id is not None:
                return True
    return False
