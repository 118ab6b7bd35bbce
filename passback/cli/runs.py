"""`passback sync | backfill | explain | runs`.

Text from Otus, the SIS or a user (ids, titles, SIS messages, errors) is printed through ``safe()``.
In a terminal the long commands show their progress on stderr (``passback.cli.progress``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from passback.cli.approve import EXIT_HELD, print_held
from passback.cli.common import console, console_err, engine, parse_date, safe
from passback.sync.report import OUTCOME_KEYS

MAX_DISTRICTS_AT_ONCE = 8  # `sync --concurrency`: checked with one clear line, never capped silently


def run_nightly(
    districts: list[str] | None,
    *,
    dry_run: bool,
    retry_rejected: bool,
    concurrency: int,
    max_seconds: float | None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run the nightly flow (ephemeral Prefect, or the server PREFECT_API_URL points to)."""
    from passback.cli.progress import shown

    async def go() -> dict[str, Any]:
        from flows.nightly import nightly

        state = await nightly(
            districts=tuple(districts or ()),
            dry_run=dry_run,
            retry_rejected=retry_rejected,
            max_concurrency=concurrency,
            max_seconds=max_seconds or 0.0,
            return_state=True,
        )
        data = await state.result(raise_on_failure=False)  # type: ignore[misc]
        if not isinstance(data, dict):
            raise RuntimeError(f"the nightly flow ended without a summary: {state.message or data}")
        return data

    with shown(show_progress):
        prefect_dies_with_us()
        return asyncio.run(go())


def prefect_dies_with_us() -> None:
    """The temporary Prefect API a flow may start dies with this process, even on kill -9 (importing
    Prefect's server takes seconds: done only when a flow is about to run, under the progress line)."""
    from passback.cli.ephemeral import install

    install()


def cut_short(districts: list[Any], as_json: bool) -> None:
    """When no district's SIS answers, say so now (a run would learn it after its retries, ~50 s)."""
    from passback.sync.reach import unreachable_districts

    down = unreachable_districts(districts) if districts else {}
    if not districts or len(down) < len(districts):
        return
    if as_json:
        sys.stdout.write(
            json.dumps({"districts": [{"district": d, "status": "failed", "error": why} for d, why in down.items()]})
            + "\n"
        )
    for d, why in down.items():
        console_err.print(
            f"[red]✘ {safe(d)}[/red]: {safe(why)}", highlight=False, soft_wrap=True
        )  # one line: greppable, the terminal wraps it
    raise typer.Exit(1)


def print_summary(result: dict[str, Any]) -> None:
    table = Table("district", "status", "kind", *OUTCOME_KEYS, "pending", title="passback summary")
    for d in result["districts"]:
        for label, key in (("lineItems", "line_items"), ("results", "results")):
            counts = d.get(key) or {}
            table.add_row(
                safe(d["district"]), d["status"], label, *(str(counts.get(k, 0)) for k in (*OUTCOME_KEYS, "pending"))
            )
    console.print(table)
    for d in result["districts"]:
        name = safe(d["district"])
        if d.get("error"):
            console.print(f"[red]✘ {name}[/red]: {safe(d['error'])}", highlight=False, soft_wrap=True)
        if d.get("status") == "held" or d.get("guards"):
            print_held(d)
        if d.get("reasons"):
            print_reasons(d["district"], d["reasons"])
        print_deletes(d)
        if d.get("writes") == 0 and d.get("status") == "completed":
            unchanged = sum(int((d.get(k) or {}).get("unchanged", 0)) for k in ("line_items", "results"))
            console.print(
                f"{name}: "
                + (
                    "no changes since the last sync — nothing written."
                    if unchanged
                    else "nothing to write: no row passes back yet (the reasons above say why)."
                )
            )
        if d.get("backlog"):
            console.print(
                f"{name}: {d['backlog']:,} writes remain for the next run; ETA {duration(d.get('eta_seconds'))} "
                f"at {d.get('writes_per_s')} writes/s"
            )
        if d.get("data_docs"):
            console.print(f"{name}: validation report → {safe(d['data_docs'])}", highlight=False)


def print_deletes(d: dict[str, Any]) -> None:
    """The deletion policy's DELETEs of a district run (``propagate``), when there were any."""
    deletes = d.get("deletes") or {}
    li, res = deletes.get("line_items") or {}, deletes.get("results") or {}
    if not (li or res):
        return
    verb = "would delete" if d.get("status") == "planned" else "deleted"
    line = (
        f"{safe(d['district'])}: {verb} {li.get('deleted', 0):,} lineItems and {res.get('deleted', 0):,} results of "
        "assessments deleted in Otus (deletion policy: propagate)"
    )
    waiting = {k: li.get(k, 0) + res.get(k, 0) for k in ("rejected", "failed", "closed", "pending")}
    if any(waiting.values()):
        line += (
            "; not deleted yet: "
            + ", ".join(f"{n:,} {k}" for k, n in waiting.items() if n)
            + " (the report lists them)"
        )
    console.print(line, highlight=False)


def duration(seconds: float | None) -> str:
    if not seconds:
        return "unknown"
    minutes = int(seconds // 60)
    return (
        f"{seconds:.0f} s"
        if minutes == 0
        else f"{minutes // 60} h {minutes % 60:02d} min"
        if minutes >= 60
        else f"{minutes} min"
    )


def print_reasons(district: str, reasons: dict[str, int]) -> None:
    """Every reason with rows, in rule order, with its meaning (never cut)."""
    from passback.report.artifacts import reason_lines

    table = Table(
        "reason", "rows", "what it means", title=f"{safe(district)}: held back, by reason", title_justify="left"
    )
    for code, n, meaning in reason_lines(reasons):
        table.add_row(safe(code), f"{n:,}", safe(meaning))
    console.print(table)


def sync(
    district: Annotated[
        list[str] | None, typer.Option("--district", help="district id (repeatable); default: every enabled district")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="plan only; write nothing")] = False,
    retry_rejected: Annotated[
        bool, typer.Option("--retry-rejected", help="resend items the SIS rejected before")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help=f"districts at once, 1 to {MAX_DISTRICTS_AT_ONCE}")
    ] = 4,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="stop starting new batches after this long")
    ] = None,
) -> None:
    """Run the nightly flow now. Exit status 1 when any district failed, 3 when none failed but a guard held one."""
    from passback.store.districts import get_district, list_districts

    if not 1 <= concurrency <= MAX_DISTRICTS_AT_ONCE:
        raise typer.BadParameter(
            f"{concurrency} districts at once: give 1 to {MAX_DISTRICTS_AT_ONCE} (each district already keeps up to 8 "
            "requests in flight, and the temporary Prefect API stalls on more concurrent subflows; for more, run the "
            "nightly deployment with dispatch=deployment on several workers)",
            param_hint="--concurrency",
        )
    eng = engine()
    targets = [get_district(eng, d) for d in district] if district else [d for d in list_districts(eng) if d.enabled]
    cut_short(targets, as_json)  # unknown district: get_district's one-line error, before Prefect starts
    result = run_nightly(
        district or None,
        dry_run=dry_run,
        retry_rejected=retry_rejected,
        concurrency=concurrency,
        max_seconds=max_seconds,
        show_progress=not as_json,
    )
    out = {
        "districts": [
            {
                k: d.get(k)
                for k in (
                    "district",
                    "status",
                    "line_items",
                    "results",
                    "reasons",
                    "error",
                    "writes",
                    "backlog",
                    "eta_seconds",
                    "data_docs",
                    "run_id",
                    "deletes",
                    "guards",
                    "hold",
                )
            }
            for d in result["districts"]
        ]
    }
    if as_json:
        sys.stdout.write(json.dumps(out, default=str) + "\n")
    else:
        print_summary(result)
    if any(d["status"] == "failed" for d in result["districts"]):
        raise typer.Exit(1)
    if any(d["status"] == "held" for d in result["districts"]):
        raise typer.Exit(EXIT_HELD)


def backfill(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    effective_date: Annotated[str, typer.Option("--effective-date", help="the new effective date, YYYY-MM-DD")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run/--apply", help="preview (default) or store the date and sync")
    ] = True,
) -> None:
    """Preview (default) or apply a new effective date."""
    from passback.cli.progress import shown
    from passback.store.districts import get_district

    district = get_district(engine(), district_id)
    date = parse_date(effective_date)
    cut_short([district], False)

    async def go() -> Any:
        from flows.backfill import backfill as backfill_flow

        state = await backfill_flow(district_id, date, dry_run=dry_run, return_state=True)
        return state, await state.result(raise_on_failure=False)  # type: ignore[misc]

    with shown():
        prefect_dies_with_us()
        state, data = asyncio.run(go())
    name = safe(district_id)
    if not isinstance(data, dict):
        console_err.print(f"[red]error:[/red] backfill failed: {safe(state.message)}", highlight=False)
        raise typer.Exit(1)
    if data["status"] == "held":  # applied, and a guard held the writes it causes: a person approves them
        print_held(data)
        raise typer.Exit(EXIT_HELD)
    li, res = data["line_items"], data["results"]
    verb = "would write" if dry_run else "wrote"
    console.print(
        f"{name}: effective date {date} {verb} {li['created']} new lineItems "
        f"({li['updated']} updated) and {res['created']} new results ({res['updated']} updated)."
    )
    if data.get("backfill"):
        print_backfill(data["backfill"])
    if data.get("data_docs"):
        console.print(f"validation report of the preview → {safe(data['data_docs'])}", highlight=False)
    if dry_run and data.get("guards"):
        print_held(data)
    if dry_run:
        console.print(f"Nothing was changed. Apply with `passback backfill {name} --effective-date {date} --apply`.")
    if data["status"] == "failed":
        console_err.print(f"[red]error:[/red] {safe(data.get('error'))}", highlight=False)
        raise typer.Exit(1)


def print_backfill(p: dict[str, Any]) -> None:
    """The assessments whose status changes under the new date (old and new reason)."""
    t = p["totals"]
    console.print(
        f"Assessments newly eligible: {t['newly_eligible']}, newly held back: {t['newly_held']}, "
        f"held for another reason: {t['reason_changed']}; held as before_effective_date now "
        f"{t['before_effective_date_now']}, with the new date {t['before_effective_date_after']}."
    )
    for title, key in (
        ("newly eligible", "newly_eligible"),
        ("newly held back", "newly_held"),
        ("still held, another reason", "reason_changed"),
    ):
        if not p[key]:
            continue
        table = Table(
            "assessment",
            "title",
            "assigned",
            "reason now",
            "with the new date",
            "lineItem",
            "result writes",
            title=f"{title} ({t[key]})",
            title_justify="left",
        )
        for a in p[key]:
            table.add_row(
                safe(a["assessment_id"]),
                safe(a["title"]),
                safe(a["assign_date"]),
                safe(a["old_reason"] or "eligible"),
                safe(a["new_reason"] or "eligible"),
                safe(a["line_item"] or "—"),
                str(a["result_writes"]),
            )
        console.print(table)


def explain(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    assessment_id: Annotated[str, typer.Argument(metavar="ASSESSMENT_ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Why one assessment, and each of its scores, did or did not pass back."""
    from passback.sync.district import DistrictRun, RunOptions
    from passback.sync.explain import explain_assessment

    run = DistrictRun(district_id, RunOptions(dry_run=True, build_docs=False))
    cut_short([run.district], as_json)
    sis, source = asyncio.run(run.snapshot())
    ex = explain_assessment(run, source, sis, assessment_id)
    if as_json:
        sys.stdout.write(json.dumps(ex.as_json(), default=str) + "\n")
        return
    console.print(
        f"[bold]{safe(ex.assessment_id)}[/bold] “{safe(ex.title)}”: {safe(ex.status)}"
        + (f" — [yellow]{safe(ex.reason)}[/yellow]" if ex.reason else "")
        + (f" — SIS: {safe(ex.message)}" if ex.message else ""),
        highlight=False,
    )
    if ex.reason:
        console.print(
            f"  offending value: {safe(ex.value)}\n  what it means: {safe(ex.meaning)}\n  who fixes it: {safe(ex.fix)}",
            highlight=False,
        )
    table = Table(
        "student", "Skyward id", "state", "points", "status", "reason / SIS message", "offending value", "what it means"
    )
    for s in ex.scores:
        table.add_row(
            safe(s["student_id"]),
            safe(s.get("student_sis_id") or "—"),
            safe(s["state"]),
            "" if s["points_earned"] is None else f"{s['points_earned']:g}",
            safe(s["status"]),
            safe(s["reason"] or s["message"] or ""),
            safe(s.get("value") or ""),
            safe(s.get("meaning") or ""),
        )
    console.print(table)


def flow_run_link(flow_run_id: str) -> str | None:
    """The flow run's page in the Prefect UI (None when PREFECT_UI_URL is not set)."""
    ui = os.environ.get("PREFECT_UI_URL", "").rstrip("/")
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else None


def history(
    district_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="one district (default: all)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="runs per district")] = 10,
) -> None:
    """Recent runs (of one district, or of every district), with their Prefect flow runs and whole errors."""
    from passback.store.districts import get_district, list_districts
    from passback.store.runs import recent_runs

    eng = engine()
    ids = [get_district(eng, district_id).id] if district_id else [d.id for d in list_districts(eng)]
    table = Table("district", "run", "kind", "started", "took", "status", "writes", "Prefect flow run")
    for column in (table.columns[0], table.columns[-1]):
        column.no_wrap = True  # whole ids (a UUID is 36 characters), never cut: 155 columns at most
    notes: list[str] = []  # below the table, one per run: the UI link and the whole error, never cut
    for d in ids:
        for r in recent_runs(eng, d, limit):
            counts = json.loads(r.counts) if isinstance(r.counts, str) else (r.counts or {})
            took = duration((r.finished_at - r.started_at).total_seconds()) if r.finished_at and r.started_at else ""
            table.add_row(
                safe(d),
                r.id[:8],
                r.kind,
                str(r.started_at)[:19],
                took,
                r.status,
                str(counts.get("writes", "")),
                safe(r.flow_run_id or "—"),
            )
            link = flow_run_link(r.flow_run_id) if r.flow_run_id else None
            if link:
                notes.append(f"{safe(d)} run {r.id[:8]} in the Prefect UI: {safe(link)}")
            if r.error:
                notes.append(f"[red]✘[/red] {safe(d)} run {r.id[:8]}: {safe(r.error)}")
    console.print(table)
    for note in notes:  # wrapped to the terminal between words; a link is one word, kept whole
        console.print(note, highlight=False)
