"""`passback doctor ID`: the pre-flight check."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from passback.cli.common import console


def doctor(district_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Check credentials, licence and scopes, categories, mapping, grading periods, effective date, teacher group."""
    from passback.source.read import group_size
    from passback.sync.district import DistrictRun, RunOptions
    from passback.sync.doctor import run_checks

    run = DistrictRun(district_id, RunOptions(dry_run=True))
    checks = asyncio.run(run_checks(run, group_size(run.settings.source_db_url, district_id)))
    for c in checks:
        mark = "[green]✔[/green]" if c.ok else "[red]✘[/red]"
        console.print(f"{mark} {c.name}: {c.detail}" + (f"\n    → {c.fix}" if c.fix and not c.ok else ""), highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
