"""`passback export` (every row's outcome of a run) and `passback report serve` (a local look)."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path
from typing import Annotated

import typer

from passback.cli.common import console, engine
from passback.settings import get_settings

report_app = typer.Typer(no_args_is_help=True, help="The validation reports (PASSBACK_DATA_DOCS_DIR).")


def export(
    district_id: Annotated[str, typer.Argument(metavar="DISTRICT")],
    out: Annotated[Path, typer.Option("--out", help="the file to write")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    run_id: Annotated[
        str | None,
        typer.Option("--run", help="a run id (or its first characters); default: the latest run with a report"),
    ] = None,
) -> None:
    """Every assessment and score of one run with its outcome, reason, meaning and offending value."""
    from passback.report.export import FORMATS, export_run, run_folder
    from passback.report.site import ReportSite
    from passback.store.districts import get_district

    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not a format: use csv or parquet", param_hint="--format")
    eng = engine()
    get_district(eng, district_id)
    found, folder = run_folder(ReportSite.from_settings(get_settings()), eng, district_id, run_id)
    rows = export_run(folder, out, fmt)
    console.print(
        f"{district_id}: run {found} → {out} ({rows['assessments']:,} assessments, {rows['scores']:,} scores)"
    )


@report_app.command("serve")
def serve(
    port: Annotated[
        int, typer.Option("--port", help="port on 127.0.0.1 (0 = any free port); 8765 is the simulator's")
    ] = 8766,
) -> None:
    """Serve the reports folder on http://127.0.0.1:PORT for a local look (Ctrl-C stops it)."""
    root = get_settings().docs_dir
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        console.print(f"serving {root} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
        try:  # noqa: SIM105
            server.serve_forever()
        except KeyboardInterrupt:
            pass


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
