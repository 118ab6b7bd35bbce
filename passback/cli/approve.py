"""`passback approve | reject`: a person's answer to a night a guard held.

Approving covers exactly the writes that were shown (each item and its payload): the next
`passback sync` (or `approve --sync`) writes them; whatever else its plan holds is checked by the
guards as usual.  A plan still waiting in a paused Prefect flow run is answered through the Prefect
API (``PREFECT_API_URL``), as the Resume form would.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any
from uuid import UUID

import typer

from passback.cli.common import console, engine, safe

EXIT_HELD = 3  # `sync`: none failed but some district was held


def print_held(d: dict[str, Any]) -> None:
    """Why a district was held (or, on a dry run, would be) and the command that approves it."""
    hold = d.get("hold") or {}
    if d.get("status") != "held":
        why = "; ".join(f"{g['name']} {g['value']} > {g['limit']}" for g in d.get("guards") or [])
        console.print(
            f"[yellow]{safe(d['district'])}: a sync of this plan would be held for approval[/yellow] ({safe(why)}).",
            soft_wrap=True,
            highlight=False,
        )
        return
    console.print(
        f"[yellow]⏸ {safe(d['district'])} held[/yellow]: {safe(hold.get('why') or 'a guard tripped')} — "
        f"nothing written ({int(hold.get('writes') or 0):,} writes planned).",
        soft_wrap=True,
        highlight=False,
    )
    for g in d.get("guards") or []:
        usual = "no history yet" if g.get("usual") is None else f"usual {g['usual']}"
        console.print(f"    {safe(g['name'])}: {g['value']} > limit {g['limit']} ({usual})", highlight=False)
    if hold.get("status") == "rejected":
        console.print(
            f"    rejected by {safe(hold.get('decided_by'))}" + (f": {safe(hold['note'])}" if hold.get("note") else ""),
            highlight=False,
        )
    console.print(
        f"    review it in the report, then approve with `{safe(hold.get('command') or 'passback approve ' + d['district'])}`"
        " (or reject with `passback reject`).",
        soft_wrap=True,
        highlight=False,
    )


def _by(given: str | None) -> str:
    if given:
        return given
    try:
        return f"{getpass.getuser()} (CLI)"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "CLI"


def _answer(district_id: str, *, approve: bool, note: str | None, by: str) -> Any:
    from passback.store import holds as store_holds
    from passback.store.districts import get_district

    eng = engine()
    get_district(eng, district_id)
    hold = store_holds.latest_open(eng, district_id)
    if hold is None:
        raise ValueError(f"district {district_id} has no plan waiting for approval (see `passback runs {district_id}`)")
    if hold.status == "paused" and hold.flow_run_id:
        _resume(hold.flow_run_id, approve=approve, note=note, by=by)
        return store_holds.get_hold(eng, hold.id)
    return store_holds.decide(eng, hold.id, approve=approve, by=by, note=note)


def _resume(flow_run_id: str, *, approve: bool, note: str | None, by: str) -> None:
    """Answer the paused flow run's form through the Prefect API (the run records the decision)."""
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise ValueError(
            f"this plan waits in the paused Prefect flow run {flow_run_id}: answer its Resume form in the "
            "Prefect UI, or set PREFECT_API_URL to that server and run this command again"
        )
    resume_flow_run(
        UUID(str(flow_run_id)),
        run_input={"decision": "approve" if approve else "reject", "note": note or "", "approver": by},
    )
    console.print(
        f"the paused flow run {flow_run_id} was resumed ({'approved' if approve else 'rejected'}); "
        "it records the decision and goes on.",
        highlight=False,
    )


def approve(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[str | None, typer.Option("--note", help="why (kept in the run history)")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who approves (default: the OS user)")] = None,
    sync_now: Annotated[bool, typer.Option("--sync", help="sync the district now (writes the approved plan)")] = False,
) -> None:
    """Approve the district's last held plan: the next sync writes exactly the writes it showed."""
    hold = _answer(district_id, approve=True, note=note, by=_by(by))
    d = safe(district_id)
    if hold is not None and hold.status == "approved":
        console.print(
            f"approved the held plan of [bold]{d}[/bold] ({hold.writes:,} writes, plan {hold.digest[:12]}) "
            f"by {safe(hold.decided_by)}.",
            highlight=False,
        )
        if not sync_now:
            console.print(
                f"The next `passback sync` writes it (or now: `passback approve {d} --sync` / `passback sync --district {d}`).",
                highlight=False,
            )
    if sync_now:
        from passback.cli.runs import sync

        sync(district=[district_id])


def reject(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[str | None, typer.Option("--note", help="why (kept in the run history)")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who rejects (default: the OS user)")] = None,
) -> None:
    """Reject the district's last held plan: nothing of it is written; the next night is checked again."""
    hold = _answer(district_id, approve=False, note=note, by=_by(by))
    if hold is not None and hold.status == "rejected":
        console.print(
            f"rejected the held plan of [bold]{safe(district_id)}[/bold] ({hold.writes:,} writes) by "
            f"{safe(hold.decided_by)}. Nothing of it is written.",
            highlight=False,
        )
