"""`passback history` (the audit trail of one assessment) and `passback reconcile` (drift in the SIS)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from passback.cli.common import console, console_err, engine, safe

JSON_KEYS = ("time", "run_id", "kind", "student_id", "action", "changes", "sis_status")


def history_json(row: dict[str, Any]) -> dict[str, Any]:
    """One timeline entry as ``--json`` prints it: the documented keys first, then the details."""
    out = {k: row[k] for k in JSON_KEYS}
    out["time"] = row["time"].isoformat() if hasattr(row["time"], "isoformat") else str(row["time"])
    out.update({k: row.get(k) for k in ("flow_run_id", "sourced_id", "kept", "message", "request_id")})
    return out


def _value(value: Any) -> str:
    return "—" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def describe(row: dict[str, Any]) -> str:
    """The changes of one entry in words: ``score 8.5 → 9``; a drift finding says what the SIS holds."""
    if row["action"] == "deleted_in_sis":
        return "the SIS no longer holds it (deleted there)"
    arrow = "sent" if row["action"] != "edited_in_sis" else "passback sent"
    parts = []
    for name, (before, after) in row["changes"].items():
        if row["action"] == "edited_in_sis":
            parts.append(f"{name}: {arrow} {_value(before)}, the SIS holds {_value(after)}")
        else:
            parts.append(f"{name} {_value(before)} → {_value(after)}")
    parts += [f"{name} kept as the SIS has it ({_value(value)})" for name, value in (row.get("kept") or {}).items()]
    return "; ".join(parts) or "no audited field changed"


def history(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    assessment_id: Annotated[str, typer.Argument(metavar="ASSESSMENT_ID")],
    student: Annotated[
        str | None,
        typer.Option("--student", metavar="OTUS_STUDENT_ID", help="one student's results (and the lineItem)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every write passback made for one assessment (its lineItem and results), oldest first, with
    the values before and after, the run, and the SIS's answer; drift that reconcile found too."""
    from passback.domain.payloads import line_item_id, result_id
    from passback.store.audit import history as read_history
    from passback.store.districts import get_district

    eng = engine()
    district = get_district(eng, district_id)
    rows = read_history(eng, district.id, assessment_id, student)
    for row in rows:
        row["sourced_id"] = (
            line_item_id(district.id, assessment_id)
            if row["kind"] == "lineItem"
            else result_id(district.id, assessment_id, row["student_id"] or "")
        )
    if as_json:
        sys.stdout.write(json.dumps([history_json(r) for r in rows], default=str) + "\n")
        return
    if not rows:
        who = f" and student {safe(student)}" if student else ""
        console.print(
            f"district {safe(district.id)}: no audited write for assessment {safe(assessment_id)}{who} "
            "(nothing sent yet, or older than the district's audit retention)",
            highlight=False,
        )
        return
    table = Table(
        "time (UTC)",
        "run",
        "kind",
        "student",
        "action",
        "what changed",
        "SIS",
        title=(f"{district.id}: history of assessment {assessment_id}" + (f", student {student}" if student else "")),
        title_justify="left",
    )
    for r in rows:
        answer = "" if r["sis_status"] is None else str(r["sis_status"])
        if r["message"]:
            answer += f" {r['message']}"
        table.add_row(
            str(r["time"])[:19],
            (r["run_id"] or "")[:8],
            r["kind"],
            r["student_id"] or "—",
            r["action"].replace("_", " "),
            describe(r),
            answer.strip(),
        )
    console.print(table)


def reconcile(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    restore: Annotated[
        bool,
        typer.Option(
            "--restore",
            help="re-send what was deleted in the SIS (a normal sync, "
            "guards included); teacher edits are never overwritten",
        ),
    ] = False,
) -> None:
    """Read back what passback owns in the SIS (open grading periods) and report what a teacher or
    another tool changed or deleted there.  Changes nothing unless --restore."""
    import asyncio

    from passback.cli.approve import EXIT_HELD
    from passback.store.districts import get_district
    from passback.sync.reconcile import ReconcileInterrupted, RestoreNotDone
    from passback.sync.reconcile import reconcile as run_reconcile

    district = get_district(engine(), district_id)
    try:
        drift = asyncio.run(run_reconcile(district.id, restore=restore))
    except RestoreNotDone as exc:
        if not exc.held:
            raise
        console_err.print(f"[yellow]held:[/yellow] {safe(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_HELD) from None
    except ReconcileInterrupted as exc:  # progress saved: the next `passback reconcile` resumes
        console_err.print(f"[red]interrupted:[/red] {safe(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(drift.as_json(), default=str) + "\n")
        return
    console.print(
        f"district {safe(district.id)}: {drift.checked:,} objects passback owns compared with the SIS; "
        f"{len(drift.edited_in_sis):,} field(s) edited in the SIS, {len(drift.deleted_in_sis):,} object(s) "
        "deleted in the SIS",
        highlight=False,
    )
    if drift.edited_in_sis:
        table = Table(
            "kind",
            "assessment",
            "student",
            "field",
            "passback sent",
            "the SIS holds",
            "sourcedId",
            title="edited in the SIS (kept: reconcile never overwrites a teacher's edit)",
            title_justify="left",
        )
        for f in drift.edited_in_sis:
            table.add_row(
                f["kind"],
                f["assessment_id"],
                f["student_id"] or "—",
                f["field"],
                _value(f["sent"]),
                _value(f["sis"]),
                f["sourced_id"],
            )
        console.print(table)
    if drift.deleted_in_sis:
        table = Table(
            "kind",
            "assessment",
            "student",
            "sourcedId",
            title="deleted in the SIS" + ("" if restore else " (`passback reconcile ID --restore` re-sends them)"),
            title_justify="left",
        )
        for f in drift.deleted_in_sis:
            table.add_row(f["kind"], f["assessment_id"], f["student_id"] or "—", f["sourced_id"])
        console.print(table)
    if drift.restored is not None:
        console.print(f"restored: {drift.restored:,} object(s) re-sent", highlight=False)
