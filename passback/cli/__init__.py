"""The ``passback`` command line (typer + rich).

Every command that fails prints ONE line saying what happened and what to do, and exits
non-zero; ``--debug`` (or PASSBACK_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.markup import escape

from passback.cli import alerts, approve, audit, demo, districts, doctor, report, runs, sim
from passback.cli.common import console_err, friendly_error, neutral

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Otus -> Skyward grade passback (OneRoster 1.1), orchestrated by Prefect.",
)

app.add_typer(districts.district_app, name="district")
app.add_typer(districts.mapping_app, name="mapping")
app.add_typer(sim.sim_app, name="sim")
app.add_typer(report.report_app, name="report")
app.command("export")(report.export)
app.command("doctor")(doctor.doctor)
app.command("sync")(runs.sync)
app.command("backfill")(runs.backfill)
app.command("explain")(runs.explain)
app.command("demo")(demo.demo)
app.command("seed")(sim.seed)
app.command("runs")(runs.history)
app.command("approve")(approve.approve)
app.command("reject")(approve.reject)
app.add_typer(alerts.alerts_app, name="alerts")
app.command("history")(audit.history)
app.command("reconcile")(audit.reconcile)


def _prefect_defaults() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's SDK telemetry prints an "anonymous usage" notice into a terminal on its first import
    # (in the middle of the CLI's output) and then sends usage events; passback opts out of both, as
    # it does of the server's analytics.  Set DO_NOT_TRACK=0 to let Prefect decide.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    # The CLI prints each district's outcome once; Prefect's console copies of the same errors
    # would repeat it five times (the Prefect UI and API keep every log line).
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "passback")  # library logs reach the Prefect UI
    # ...from inside a flow run; outside one (`sync --dry-run`, doctor) there is no run to attach them
    # to, and Prefect would print a UserWarning for each logger instead of just not sending them.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


class _NeutralFormatter(logging.Formatter):
    """Log lines reach a terminal too: control characters from SIS or Otus texts are neutralised
    (newlines of tracebacks kept)."""

    def format(self, record: logging.LogRecord) -> str:
        return neutral(super().format(record))


def _logging() -> None:
    """PASSBACK_LOG_LEVEL applies to the library's loggers (stderr)."""
    from passback.settings import get_settings

    log = logging.getLogger("passback")
    level = logging.getLevelName(get_settings().log_level.upper())
    if isinstance(level, int) and level < log.getEffectiveLevel():
        log.setLevel(level)  # more verbose than inherited (DEBUG/INFO); never quieter than the host app's choice
    if not any(getattr(h, "passback_cli", False) for h in log.handlers):
        handler = logging.StreamHandler()  # stderr: stdout stays clean for --json
        handler.setLevel(level if isinstance(level, int) else logging.WARNING)
        handler.setFormatter(_NeutralFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.passback_cli = True  # type: ignore[attr-defined]
        log.addHandler(handler)


def main() -> None:
    _prefect_defaults()
    _logging()
    debug = "--debug" in sys.argv or os.environ.get("PASSBACK_DEBUG") == "1"
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
    try:
        # standalone_mode=False: typer returns the code of a `typer.Exit(n)` instead of exiting with it
        code = app(standalone_mode=False)
    except SystemExit:
        raise
    except typer.Abort:
        console_err.print(
            "aborted: nothing was changed (no answer to the prompt; options or PASSBACK_CLIENT_SECRET avoid it)"
        )
        raise SystemExit(130) from None
    except Exception as exc:
        if debug:
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed: nothing more to say
            raise SystemExit(2) from None
        console_err.print(f"[red]error:[/red] {escape(friendly_error(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    raise SystemExit(code if isinstance(code, int) else 0)
