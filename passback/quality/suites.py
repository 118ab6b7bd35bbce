"""Load the passback rule suites from ``expectations/*.json`` — exactly as written, or not at all.

Great Expectations silently drops an expectation it cannot build (an unknown or mistyped
``type``, a custom expectation whose module was not imported): a rule would vanish without a
trace.  ``load_suite`` checks every expectation before building the suite, asserts that the
built suite holds as many expectations as the file, and checks each one's ``meta``:

- ``reason_code``: one of the suite's reason codes (``passback.domain.codes``),
- ``severity``: ``"error"`` or ``"pending"``, and ``"pending"`` exactly for the pending codes,
- ``rule``: a one-line human description (shown in Data Docs as the expectation's note).

Only row-level (map) expectations are allowed: a rule must say WHICH rows it blocks.
Great Expectations is imported lazily (on the first load), never at module import.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passback.domain.codes import ASSESSMENT_REASONS, PENDING_REASONS, SCORE_REASONS
from passback.quality import _gx
from passback.quality.errors import SuiteLoadError

if TYPE_CHECKING:  # pragma: no cover
    from great_expectations import ExpectationSuite

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
SUITE_REASONS: Mapping[str, tuple[str, ...]] = {
    "assessments": ASSESSMENT_REASONS,
    "scores": SCORE_REASONS,
}
SEVERITIES = ("error", "pending")
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list",)
_GX_SEVERITY = {"error": "critical", "pending": "warning"}

_cache: dict[tuple[str, str, int, int], ExpectationSuite] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class Rule:
    """One expectation of a loaded suite, as the validator needs it."""

    position: int  # position in the suite file
    type: str  # GX expectation type, e.g. "expect_column_values_to_be_in_set"
    reason_code: str
    severity: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        return f"#{self.position} {self.type}({', '.join(self.columns)}) [{self.reason_code}]"


def load_suite(
    name: str,
    directory: Path | None = None,
    *,
    allowed_reasons: Sequence[str] | None = None,
) -> ExpectationSuite:
    """The suite ``<directory>/<name>.json`` (default directory: the repo's ``expectations/``).

    Cached per process by (file, modification time): editing a file is picked up by the next load.
    ``allowed_reasons`` defaults to the codes of the suite ``name`` (``SUITE_REASONS``), or all
    known codes for another name.  Raises ``SuiteLoadError`` naming the file and every problem.
    """
    path = (directory or EXPECTATIONS_DIR).resolve() / f"{name}.json"
    try:
        stat = path.stat()
    except OSError as exc:
        raise SuiteLoadError(f"{path}: cannot read the suite file ({exc.strerror or exc})") from exc
    key = (name, str(path), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    suite = _build(name, path, allowed_reasons)
    with _cache_lock:
        for stale in [k for k in _cache if k[1] == str(path)]:
            del _cache[stale]
        _cache[key] = suite
    return suite


def clear_cache() -> None:
    """Forget every loaded suite (tests)."""
    with _cache_lock:
        _cache.clear()


def rules(suite: ExpectationSuite) -> tuple[Rule, ...]:
    """The row-level rules of a suite loaded by ``load_suite``, in file order."""
    return tuple(
        Rule(
            position=i,
            type=exp.expectation_type,
            reason_code=exp.meta["reason_code"],  # type: ignore[index]
            severity=exp.meta["severity"],  # type: ignore[index]
            columns=_expectation_columns(exp.configuration.kwargs),
        )
        for i, exp in enumerate(suite.expectations)
    )


def referenced_columns(suite: ExpectationSuite) -> tuple[str, ...]:
    """Every column a suite reads (domains and row conditions), in first-use order."""
    seen: dict[str, None] = {}
    for rule in rules(suite):
        seen.update(dict.fromkeys(rule.columns))
    return tuple(seen)


def _build(name: str, path: Path, allowed_reasons: Sequence[str] | None) -> ExpectationSuite:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SuiteLoadError(f"{path}: not a readable JSON suite ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteLoadError(f"{path}: expected an object with an 'expectations' list")
    if data.get("name") != name:
        raise SuiteLoadError(f"{path}: the suite name {data.get('name')!r} must equal the file stem {name!r}")
    allowed = (
        tuple(allowed_reasons)
        if allowed_reasons is not None
        else SUITE_REASONS.get(name, tuple(dict.fromkeys(ASSESSMENT_REASONS + SCORE_REASONS)))
    )
    declared: list[dict[str, Any]] = data["expectations"]
    problems = list(_meta_problems(declared, allowed)) + list(_build_problems(declared))
    if problems:
        raise SuiteLoadError(f"{path}: {len(problems)} invalid expectation(s):\n  " + "\n  ".join(problems))

    gx = _gx.gx()
    try:
        suite = gx.ExpectationSuite(**data)
    except Exception as exc:
        raise SuiteLoadError(f"{path}: Great Expectations refused the suite: {exc}") from exc
    if len(suite.expectations) != len(declared):
        kept = {exp.expectation_type for exp in suite.expectations}
        dropped = sorted({str(e.get("type")) for e in declared} - kept) or ["(an expectation of a kept type)"]
        raise SuiteLoadError(
            f"{path}: Great Expectations loaded {len(suite.expectations)} of {len(declared)} expectations;"
            f" dropped: {', '.join(dropped)}"
        )
    for position, exp in enumerate(suite.expectations):
        meta = exp.meta
        # A stable id per expectation: validation results are matched back to rules by it.
        exp.id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"passback:{name}:{position}:{exp.expectation_type}"))
        if not exp.notes:  # Data Docs render notes, not meta: the code, its meaning, who fixes it, the rule
            exp.notes = _notes(meta)
        exp.severity = _GX_SEVERITY[meta["severity"]]
    return suite


def _meta_problems(declared: list[Any], allowed: Sequence[str]) -> Iterator[str]:
    for i, exp in enumerate(declared):
        if not isinstance(exp, dict):
            yield f"#{i}: not an object"
            continue
        label = f"#{i} {exp.get('type')}"
        meta = exp.get("meta")
        if not isinstance(meta, dict):
            yield f"{label}: no meta (needs reason_code, severity, rule)"
            continue
        code, severity, rule = meta.get("reason_code"), meta.get("severity"), meta.get("rule")
        if code not in allowed:
            yield f"{label}: meta.reason_code {code!r} is not one of {', '.join(allowed)}"
        if severity not in SEVERITIES:
            yield f"{label}: meta.severity {severity!r} must be 'error' or 'pending'"
        elif code in allowed and (severity == "pending") != (code in PENDING_REASONS):
            expected = "pending" if code in PENDING_REASONS else "error"
            yield f"{label}: meta.severity of {code} must be {expected!r}"
        if not isinstance(rule, str) or not rule.strip():
            yield f"{label}: meta.rule (a one-line description citing the guide) is missing"


def _notes(meta: Mapping[str, Any]) -> list[str]:
    from passback.quality.meanings import meaning_of

    m = meaning_of(meta["reason_code"])
    return [
        f"{meta['reason_code']} ({meta['severity']}): {m.meaning}",
        f"Who fixes it: {m.who_text}. {m.fix}",
        f"Rule: {meta['rule']}",
    ]


def _build_problems(declared: list[Any]) -> Iterator[str]:
    """Build each expectation alone, so that every invalid one is named with GX's reason."""
    _gx.gx()
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    row_level = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    for i, exp in enumerate(declared):
        if not isinstance(exp, dict):
            continue
        label = f"#{i} {exp.get('type')}"
        try:
            built = ExpectationConfiguration(**exp).to_domain_obj()
        except Exception as exc:  # noqa: BLE001 - unknown type, pydantic errors, bad kwargs
            message = getattr(exc, "message", None) or str(exc)
            yield f"{label}: dropped by Great Expectations ({' '.join(message.split())})"
            continue
        if not isinstance(built, row_level):
            yield f"{label}: not a row-level (map) expectation; a rule must name the rows it blocks"
        kwargs = exp.get("kwargs") or {}
        if kwargs.get("mostly", 1) != 1:
            yield f"{label}: 'mostly' is not allowed: every failing row is tagged, whatever the share"
        condition = kwargs.get("row_condition")
        if condition is not None and not isinstance(condition, dict):
            yield (
                f"{label}: row_condition must be structured "
                '({"type": "comparison", "column": {"name": ...}, ...}), not a query string'
            )


def _expectation_columns(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    columns: list[str] = [kwargs[k] for k in COLUMN_KWARGS if isinstance(kwargs.get(k), str)]
    for k in COLUMN_LIST_KWARGS:
        columns.extend(c for c in kwargs.get(k) or () if isinstance(c, str))
    columns.extend(_condition_columns(kwargs.get("row_condition")))
    return tuple(dict.fromkeys(columns))


def _condition_columns(condition: Any) -> Iterator[str]:
    """Columns named in a structured row condition (a GX Condition object or its dict form)."""
    if condition is None:
        return
    if hasattr(condition, "dict") and not isinstance(condition, dict):
        condition = condition.dict()
    if isinstance(condition, dict):
        column = condition.get("column")
        if isinstance(column, dict) and isinstance(column.get("name"), str):
            yield column["name"]
        for sub in condition.get("conditions") or ():
            yield from _condition_columns(sub)
