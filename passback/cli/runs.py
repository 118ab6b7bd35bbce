"""`passback sync | backfill | explain | demo | runs`."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from passback.cli.approve import EXIT_HELD, print_held
from passback.cli.common import console, console_err, engine, parse_date
from passback.sync.report import OUTCOME_KEYS

MAX_DISTRICTS_AT_ONCE = 8  # `sync --concurrency`: checked with one clear line, never capped silently


def run_nightly(districts: list[str] | None, *, dry_run: bool, retry_rejected: bool,
                concurrency: int, max_seconds: float | None) -> dict[str, Any]:
    """Run the nightly flow (ephemeral Prefect, or the server PREFECT_API_URL points to)."""
    from flows.nightly import nightly

    async def go() -> dict[str, Any]:
        state = await nightly(districts=districts, dry_run=dry_run, retry_rejected=retry_rejected,
                              max_concurrency=concurrency, max_seconds=max_seconds, return_state=True)
        data = await state.result(raise_on_failure=False)
        if not isinstance(data, dict):
            raise RuntimeError(f"the nightly flow ended without a summary: {state.message or data}")
        return data

    return asyncio.run(go())


def print_summary(result: dict[str, Any]) -> None:
    table = Table("district", "status", "kind", *OUTCOME_KEYS, "pending", title="passback summary")
    for d in result["districts"]:
        for label, key in (("lineItems", "line_items"), ("results", "results")):
            counts = d.get(key) or {}
            table.add_row(d["district"], d["status"], label, *(str(counts.get(k, 0)) for k in (*OUTCOME_KEYS, "pending")))
    console.print(table)
    for d in result["districts"]:
        if d.get("error"):
            console.print(f"[red]✘ {d['district']}[/red]: {d['error']}", soft_wrap=True)
        if d.get("status") == "held" or d.get("guards"):
            print_held(d)
        if d.get("reasons"):
            print_reasons(d["district"], d["reasons"])
        if d.get("writes") == 0 and d.get("status") == "completed":
            console.print(f"{d['district']}: no changes since the last sync — nothing written.")
        if d.get("backlog"):
            console.print(f"{d['district']}: {d['backlog']} writes remain; ETA {d.get('eta_seconds')} s at {d.get('writes_per_s')}/s")
        if d.get("data_docs"):
            console.print(f"{d['district']}: validation report → {d['data_docs']}", soft_wrap=True, highlight=False)


def print_reasons(district: str, reasons: dict[str, int]) -> None:
    """Every reason with rows, in rule order, with its meaning (never cut)."""
    from passback.report.artifacts import reason_lines

    table = Table("reason", "rows", "what it means", title=f"{district}: held back, by reason", title_justify="left")
    for code, n, meaning in reason_lines(reasons):
        table.add_row(code, f"{n:,}", meaning)
    console.print(table)


def sync(
    district: Annotated[list[str] | None, typer.Option("--district", help="district id (repeatable); default: every enabled district")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="plan only; write nothing")] = False,
    retry_rejected: Annotated[bool, typer.Option("--retry-rejected", help="resend items the SIS rejected before")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", help=f"districts at once, 1 to {MAX_DISTRICTS_AT_ONCE}")] = 4,
    max_seconds: Annotated[float | None, typer.Option("--max-seconds", help="stop starting new batches after this long")] = None,
) -> None:
    """Run the nightly flow now. Exit status 1 when any district failed, 3 when none failed but a guard held one."""
    from passback.store.districts import get_district

    if not 1 <= concurrency <= MAX_DISTRICTS_AT_ONCE:
        raise typer.BadParameter(
            f"{concurrency} districts at once: give 1 to {MAX_DISTRICTS_AT_ONCE} (each district already keeps up to 8 "
            "requests in flight, and the temporary Prefect API stalls on more concurrent subflows; for more, run the "
            "nightly deployment with dispatch=deployment on several workers)", param_hint="--concurrency")
    for d in district or []:
        get_district(engine(), d)  # unknown district: one-line error before Prefect starts
    result = run_nightly(district or None, dry_run=dry_run, retry_rejected=retry_rejected,
                         concurrency=concurrency, max_seconds=max_seconds)
    out = {"districts": [{k: d.get(k) for k in ("district", "status", "line_items", "results", "reasons", "error",
                                                 "writes", "backlog", "eta_seconds", "data_docs", "run_id", "guards", "hold")}
                         for d in result["districts"]]}
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
    dry_run: Annotated[bool, typer.Option("--dry-run/--apply", help="preview (default) or store the date and sync")] = True,
) -> None:
    """Preview (default) or apply a new effective date."""
    from flows.backfill import backfill as backfill_flow
    from passback.store.districts import get_district

    get_district(engine(), district_id)
    date = parse_date(effective_date)

    async def go() -> Any:
        state = await backfill_flow(district_id, date, dry_run=dry_run, return_state=True)
        return state, await state.result(raise_on_failure=False)

    state, data = asyncio.run(go())
    if not isinstance(data, dict):
        console_err.print(f"[red]error:[/red] backfill failed: {state.message}")
        raise typer.Exit(1)
    if data["status"] == "held":  # applied, and a guard held the writes it causes: a person approves them
        print_held(data)
        raise typer.Exit(EXIT_HELD)
    li, res = data["line_items"], data["results"]
    verb = "would write" if dry_run else "wrote"
    console.print(f"{district_id}: effective date {date} {verb} {li['created']} new lineItems "
                  f"({li['updated']} updated) and {res['created']} new results ({res['updated']} updated).")
    if data.get("backfill"):
        print_backfill(data["backfill"])
    if data.get("data_docs"):
        console.print(f"validation report of the preview → {data['data_docs']}", soft_wrap=True, highlight=False)
    if dry_run and data.get("guards"):
        print_held(data)
    if dry_run:
        console.print(f"Nothing was changed. Apply with `passback backfill {district_id} --effective-date {date} --apply`.")
    if data["status"] == "failed":
        console_err.print(f"[red]error:[/red] {data.get('error')}")
        raise typer.Exit(1)


def print_backfill(p: dict[str, Any]) -> None:
    """The assessments whose status changes under the new date (old and new reason)."""
    t = p["totals"]
    console.print(f"Assessments newly eligible: {t['newly_eligible']}, newly held back: {t['newly_held']}, "
                  f"held for another reason: {t['reason_changed']}; held as before_effective_date now "
                  f"{t['before_effective_date_now']}, with the new date {t['before_effective_date_after']}.")
    for title, key in (("newly eligible", "newly_eligible"), ("newly held back", "newly_held"),
                       ("still held, another reason", "reason_changed")):
        if not p[key]:
            continue
        table = Table("assessment", "title", "assigned", "reason now", "with the new date", "lineItem", "result writes",
                      title=f"{title} ({t[key]})", title_justify="left")
        for a in p[key]:
            table.add_row(a["assessment_id"], a["title"], a["assign_date"], a["old_reason"] or "eligible",
                          a["new_reason"] or "eligible", a["line_item"] or "—", str(a["result_writes"]))
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
    sis, source = asyncio.run(run.snapshot())
    ex = explain_assessment(run, source, sis, assessment_id)
    if as_json:
        sys.stdout.write(json.dumps(ex.as_json(), default=str) + "\n")
        return
    console.print(f"[bold]{ex.assessment_id}[/bold] “{ex.title}”: {ex.status}" + (f" — [yellow]{ex.reason}[/yellow]" if ex.reason else "")
                  + (f" — SIS: {ex.message}" if ex.message else ""), highlight=False)
    if ex.reason:
        console.print(f"  offending value: {ex.value}\n  what it means: {ex.meaning}\n  who fixes it: {ex.fix}", highlight=False)
    table = Table("student", "Skyward id", "state", "points", "status", "reason / SIS message", "offending value", "what it means")
    for s in ex.scores:
        table.add_row(s["student_id"], s.get("student_sis_id") or "—", str(s["state"]),
                      "" if s["points_earned"] is None else f"{s['points_earned']:g}",
                      s["status"], s["reason"] or s["message"] or "", s.get("value") or "", s.get("meaning") or "")
    console.print(table)


def history(
    district_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="one district (default: all)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="runs per district")] = 10,
) -> None:
    """Recent runs (of one district, or of every district)."""
    from passback.store.districts import get_district, list_districts
    from passback.store.runs import recent_runs

    eng = engine()
    ids = [get_district(eng, district_id).id] if district_id else [d.id for d in list_districts(eng)]
    table = Table("district", "run", "kind", "started", "finished", "status", "writes", "error")
    for d in ids:
        for r in recent_runs(eng, d, limit):
            counts = json.loads(r.counts) if isinstance(r.counts, str) else (r.counts or {})
            table.add_row(d, r.id[:8], r.kind, str(r.started_at)[:19], str(r.finished_at or "")[:19], r.status,
                          str(counts.get("writes", "")), (r.error or "")[:80])
    console.print(table)


def demo(
    fresh: Annotated[bool, typer.Option("--fresh", help="start over: new demo data, empty gradebook and ledger")] = False,
    port: Annotated[int, typer.Option("--port", help="simulator port (0 = any free port)")] = 0,
) -> None:
    """Seed a demo district, start the simulator on loopback, run the nightly flow, print the summary."""
    from passback.cli.demo import run_demo

    run_demo(fresh=fresh, port=port)
