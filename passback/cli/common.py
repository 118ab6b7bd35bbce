"""Shared CLI helpers: consoles, engines, one-line errors."""

from __future__ import annotations

import datetime as dt
import sys

import typer
from rich.console import Console

from passback.settings import get_settings

# Piped or captured output (CI logs, `| tee`) gets a wide fixed width instead of rich's 80 columns,
# so summary tables are not truncated.
console = Console(width=None if sys.stdout.isatty() else 160)
console_err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def engine():
    from passback.store.db import get_engine

    return get_engine(get_settings().state_db_url)


def parse_date(value: str, option: str = "--effective-date") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD (e.g. 2026-08-20)", param_hint=option) from None


def friendly_error(exc: BaseException) -> str:
    """One line: what happened and, where the error knows it, what to do."""
    from pydantic import ValidationError

    if hasattr(exc, "format_message"):  # typer's (vendored click) usage errors: the message names the parameter
        return " ".join(str(exc.format_message()).split())
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
    raw = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # str(KeyError) is a repr
    text = raw.strip().splitlines()[0] if raw.strip() else type(exc).__name__
    known = type(exc).__module__.startswith("passback") or isinstance(exc, (ValueError, KeyError, FileNotFoundError))
    return text if known else f"{type(exc).__name__}: {text} (rerun with --debug for details)"
