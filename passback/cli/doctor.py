"""`passback doctor ID`: the pre-flight check."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from passback.cli.common import console, safe


def doctor(district_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Check credentials, licence and scopes, categories, mapping, grading periods, effective date, teacher group."""
    from sqlalchemy.engine import make_url

    from passback.oneroster.errors import OneRosterError
    from passback.source.read import group_size
    from passback.sync.district import DistrictRun, RunOptions
    from passback.sync.doctor import Check, run_checks
    from passback.sync.reach import unreachable

    run = DistrictRun(district_id, RunOptions(dry_run=True))
    source_url = run.settings.source_db_url
    try:
        members, source_error = group_size(source_url, district_id), None
    except Exception as exc:  # noqa: BLE001 - reported as a failed check, the others still run
        shown = make_url(source_url).render_as_string(hide_password=True)
        members, source_error = 0, f"cannot read the Otus source DB {shown}: {str(exc).splitlines()[0]}"
    fix = f"check the URLs with `passback district show {district_id}`"
    down = asyncio.run(unreachable(run.district))  # one quick connect first: no SIS, no retries to wait for
    try:
        checks = [Check("SIS reachable", False, down, fix)] if down else asyncio.run(run_checks(run, members))
    except OneRosterError as exc:  # the SIS never answered (DNS, TLS, firewall, wrong URL) or kept failing
        checks = [Check("SIS reachable", False, str(exc), fix)]
    # Every text below may come from the SIS, Otus or a user: shown safe (no control characters,
    # no markup, no URL password) and on one line per check.
    for c in checks:
        if c.name == "teacher group" and source_error:
            c.detail, c.fix = (
                source_error,
                "set PASSBACK_SOURCE_URL to the Otus database (or `passback seed` for synthetic data)",
            )
        mark = "[green]✔[/green]" if c.ok else "[red]✘[/red]"
        console.print(
            f"{mark} {c.name}: {_line(c.detail)}" + (f"\n    → {_line(c.fix)}" if c.fix and not c.ok else ""),
            highlight=False,
            soft_wrap=True,
        )
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def _line(text: str) -> str:
    return " ".join(safe(text).split("\n"))
