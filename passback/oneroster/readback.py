"""Read-back: does what the SIS holds match what was written?

``differences(envelope, sent, stored)`` compares the fields that carry the grade (a lineItem's
title, class, category, period, dates and maximum; a result's lineItem, student, score, status
and comment) after the normalisations a real SIS applies: references by sourcedId, numbers as
numbers, dates by day, text without surrounding spaces, case-insensitive score statuses.  The
fields that carry the grade must be there; the others are compared when the SIS returns them.
"""

from __future__ import annotations

import math
from typing import Any

# (field, how to compare, must the SIS return it)
_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "lineItem": (
        ("title", "text", True),
        ("class", "ref", True),
        ("category", "ref", False),
        ("gradingPeriod", "ref", False),
        ("assignDate", "day", False),
        ("dueDate", "day", False),
        ("resultValueMax", "number", False),
        ("status", "fold", False),
    ),
    "result": (
        ("lineItem", "ref", True),
        ("student", "ref", True),
        ("score", "number", True),
        ("scoreStatus", "fold", False),
        ("comment", "text", False),
        ("status", "fold", False),
    ),
}


def _norm(value: Any, how: str) -> Any:
    if value is None:
        return None
    if how == "ref":
        return str(value.get("sourcedId")) if isinstance(value, dict) else str(value)
    if how == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return round(number, 6) if math.isfinite(number) else str(value)
    if how == "day":
        return str(value)[:10]
    if how == "fold":
        return str(value).strip().casefold()
    return str(value).strip()


def unwrap(payload: dict[str, Any], envelope: str) -> dict[str, Any]:
    inner = payload.get(envelope) if len(payload) == 1 else None
    return inner if isinstance(inner, dict) else payload


def differences(envelope: str, sent: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """One line per field whose stored value is not the one sent (empty: they match)."""
    out = []
    for name, how, required in _FIELDS[envelope]:
        if name not in sent:
            continue
        want = _norm(sent[name], how)
        if name not in stored:
            if required:
                out.append(f"{name} {want!r} was sent but the SIS returns none")
            continue
        have = _norm(stored[name], how)
        if how == "text" and not want and not have:
            continue  # "" and null are the same empty text
        if want != have:
            out.append(f"{name} {want!r} was sent but the SIS holds {have!r}")
    return out
