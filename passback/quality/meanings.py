"""The one table of what each reason code means, who fixes it and how (``expectations/reasons.json``).

Every place that shows a reason reads it through ``reason_meanings()``: the validation report, the
Prefect artifacts, ``passback explain``, the CLI summary, ``passback export`` and the Data Docs notes.
Reasons applied outside the suites (``assessment_ineligible``, ``line_item_rejected``,
``duplicate_row``, ``unknown_assessment``, ``grading_period_closed`` learned from the SIS) are in the
same file.  Cached per process by the file's modification time, like the suites.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from passback.domain.codes import ASSESSMENT_REASONS, PENDING_REASONS, SCORE_REASONS
from passback.quality.errors import SuiteLoadError

MEANINGS_FILE = Path(__file__).resolve().parents[2] / "expectations" / "reasons.json"
ALL_REASONS: tuple[str, ...] = tuple(dict.fromkeys(ASSESSMENT_REASONS + SCORE_REASONS))


@dataclass(frozen=True)
class Meaning:
    code: str
    meaning: str  # one or two plain sentences
    who: str  # key of the "who" table, e.g. "teacher"
    who_text: str  # "the teacher, in Otus"
    fix: str  # what to do
    pending: bool  # pending, not an error: passes back later without a fix

    def line(self) -> str:
        """``meaning — fix: who: what`` on one line (CLI, artifacts)."""
        return f"{self.meaning} Fix: {self.who_text} — {self.fix}"


_lock = threading.Lock()
_cache: dict[tuple[str, int], dict[str, Meaning]] = {}


def reason_meanings(path: Path | None = None) -> dict[str, Meaning]:
    """code -> Meaning for every reason code (raises ``SuiteLoadError`` naming what is missing)."""
    path = path or MEANINGS_FILE
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError as exc:
        raise SuiteLoadError(f"{path}: cannot read the reason meanings ({exc.strerror or exc})") from exc
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        who, reasons = data["who"], data["reasons"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SuiteLoadError(f"{path}: not a readable reasons table ({exc})") from exc
    problems = [f"{code}: no entry" for code in ALL_REASONS if code not in reasons]
    table: dict[str, Meaning] = {}
    for code, entry in reasons.items():
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) and entry[k] for k in ("meaning", "who", "fix")
        ):
            problems.append(f"{code}: needs non-empty 'meaning', 'who' and 'fix'")
            continue
        if entry["who"] not in who:
            problems.append(f"{code}: 'who' is {entry['who']!r}, not one of {sorted(who)}")
            continue
        table[code] = Meaning(
            code, entry["meaning"], entry["who"], who[entry["who"]], entry["fix"], code in PENDING_REASONS
        )
    if problems:
        raise SuiteLoadError(f"{path}: " + "; ".join(problems))
    with _lock:
        _cache.clear()
        _cache[key] = table
    return table


def meaning_of(code: str) -> Meaning:
    """The meaning of one code; an unknown code gets a neutral entry (never a crash in a report)."""
    found = reason_meanings().get(code)
    if found is not None:
        return found
    return Meaning(
        code,
        f"Reason {code!r} (no description in expectations/reasons.json).",
        "otus_support",
        "unknown",
        "Add the code to expectations/reasons.json.",
        False,
    )


def reason_order() -> tuple[str, ...]:
    """Every code in rule order: the assessment rules, then the score rules."""
    return ALL_REASONS


def rule_setting(suite_name: str, code: str, key: str, directory: Path | None = None) -> object | None:
    """A threshold of a rule as the suite JSON states it (e.g. ``title_too_long``'s ``max_value``),
    so that the report says "title length 57 of at most 49" with the number the rules used."""
    path = (directory or MEANINGS_FILE.parent) / f"{suite_name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for exp in data.get("expectations") or ():
        if (exp.get("meta") or {}).get("reason_code") == code and key in (exp.get("kwargs") or {}):
            return exp["kwargs"][key]
    return None
