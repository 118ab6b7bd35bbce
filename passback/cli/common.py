"""Shared CLI helpers: consoles, engines, one-line errors, and text made safe for a terminal.

Text from Otus, the SIS or a user (names, titles, SIS error descriptions, URLs) is shown through
``safe()``: control characters become visible escapes (``\\x1b``), rich markup is escaped (a title
``[red]`` prints as written) and a password in a URL is masked.  The consoles also neutralise
control characters in every string they render, tables included.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from typing import Any

import typer
from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape
from rich.text import Text

from passback.settings import get_settings
from passback.store.urls import mask_userinfo

# C0 controls except tab and newline, DEL, C1 controls, and the Unicode controls that reorder or
# break lines on a terminal (bidi overrides and isolates, line/paragraph separators).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutral(value: Any) -> str:
    """``value`` as text with control characters shown as escapes and URL passwords masked."""
    return mask_userinfo(_CONTROL.sub(_visible, str(value)))


def safe(value: Any) -> str:
    """``value`` ready to interpolate into a rich markup string: neutral, and printed literally."""
    return escape(neutral(value))


class SafeConsole(Console):
    """A rich console that never passes a control character from the text it renders to the terminal
    (its own styling is unaffected: that is added after the text is rendered), and never fails on
    text that is not valid markup (a SIS message with ``[/x]`` printed without ``safe``): that text
    is printed as written instead."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        text = _CONTROL.sub(_visible, text)
        try:
            return super().render_str(text, **kwargs)
        except MarkupError:
            return super().render_str(text, **{**kwargs, "markup": False})


# Piped or captured output (CI logs, `| tee`) gets a wide fixed width instead of rich's 80 columns,
# so summary tables are not truncated.
console = SafeConsole(width=None if sys.stdout.isatty() else 160)
console_err = SafeConsole(stderr=True, width=None if sys.stderr.isatty() else 160)


def engine():
    from passback.store.db import get_engine

    return get_engine(get_settings().state_db_url)


def parse_date(value: str, option: str = "--effective-date") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date: use YYYY-MM-DD (e.g. 2026-08-20)", param_hint=option
        ) from None


def friendly_error(exc: BaseException) -> str:
    """One line: what happened and, where the error knows it, what to do (terminal-safe: ``neutral``;
    escape it with ``safe`` — or ``rich.markup.escape`` — before printing it inside markup)."""
    from pydantic import ValidationError

    if hasattr(exc, "format_message"):  # typer's (vendored click) usage errors: the message names the parameter
        return neutral(" ".join(str(exc.format_message()).split()))
    if isinstance(exc, ValidationError):
        return neutral(
            "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
        )
    raw = neutral(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))  # str(KeyError) is a repr
    text = raw.strip().splitlines()[0] if raw.strip() else type(exc).__name__
    known = type(exc).__module__.startswith("passback") or isinstance(exc, (ValueError, KeyError, FileNotFoundError))
    return text if known else f"{type(exc).__name__}: {text} (rerun with --debug for details)"
