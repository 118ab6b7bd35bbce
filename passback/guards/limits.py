"""The guards, their defaults, and the limit each one applies to a night.

A count guard trips when the night's value is above its limit:

* the district's own absolute limit when one is set (``passback district set ID --guard-new-zeros N``);
* else, with history (the district's last ordinary runs): ``max(floor, factor x usual)``, where
  *usual* is the median of the guard's value over those runs;
* else (a first night, or no measured run yet): ``max(floor, share x base)``, where *base* is the
  size of what the guard is about (every result the district passes back; every result or
  lineItem the SIS already holds).  ``writes`` has no such limit: a first night writes the whole
  gradebook by design, and the other guards look at what it holds.

``zero_share`` is a share, not a count: the largest share of one assessment's students whose
result would become 0 tonight (among assessments with at least ``MIN_STUDENTS`` students).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_STUDENTS = 5  # zero_share: smaller assessments are left to the count guards
HISTORY_RUNS = 10  # the district's last ordinary runs that make "usual"
DEFAULT_FACTOR = 5.0
DEFAULT_ZERO_SHARE = 0.8
DEFAULT_TIMEOUT_H = 12.0


@dataclass(frozen=True)
class GuardSpec:
    name: str
    setting: str  # the District column of the absolute limit
    option: str  # the `passback district set` option
    floor: int  # a night at or below this never trips (unless an absolute limit says so)
    share: float | None  # no history: the limit as a share of ``base``
    base: str | None  # ``Measures`` attribute the share applies to
    what: str  # one line for people


COUNT_GUARDS: tuple[GuardSpec, ...] = (
    GuardSpec(
        "new_zeros",
        "guard_new_zeros",
        "--guard-new-zeros",
        50,
        0.20,
        "results_total",
        "new zero scores to send (auto-zeros of missing past-due work, and graded zeros)",
    ),
    GuardSpec(
        "changed_scores",
        "guard_changed_scores",
        "--guard-changed-scores",
        50,
        0.10,
        "results_acked",
        "scores the SIS already holds that would change",
    ),
    GuardSpec(
        "lowered_scores",
        "guard_lowered_scores",
        "--guard-lowered-scores",
        25,
        0.05,
        "results_acked",
        "scores the SIS already holds that would go down",
    ),
    GuardSpec(
        "changed_line_items",
        "guard_changed_line_items",
        "--guard-changed-line-items",
        25,
        0.10,
        "line_items_acked",
        "lineItems the SIS already holds that would change (title, dates, category, points)",
    ),
    GuardSpec("writes", "guard_writes", "--guard-writes", 500, None, None, "writes in the night (lineItems + results)"),
)
ZERO_SHARE = "zero_share"
ZERO_SHARE_WHAT = (
    f"the largest share of one assessment's students (of {MIN_STUDENTS} or more) whose result would "
    "become 0 tonight (a due-date typo, a class that never submitted)"
)
NAMES = (*(g.name for g in COUNT_GUARDS), ZERO_SHARE)


@dataclass(frozen=True)
class DistrictLimits:
    """A district's guard settings (None = the default)."""

    enabled: bool = True
    absolute: tuple[tuple[str, int | None], ...] = ()
    zero_share: float = DEFAULT_ZERO_SHARE
    factor: float = DEFAULT_FACTOR
    timeout_h: float = DEFAULT_TIMEOUT_H

    @classmethod
    def of(cls, district: Any) -> DistrictLimits:
        def get(name: str, default: Any = None) -> Any:
            value = getattr(district, name, None)
            return default if value is None else value

        return cls(
            enabled=bool(get("guards_enabled", True)),
            absolute=tuple((g.name, get(g.setting)) for g in COUNT_GUARDS),
            zero_share=float(get("guard_zero_share", DEFAULT_ZERO_SHARE)),
            factor=float(get("guard_factor", DEFAULT_FACTOR)),
            timeout_h=float(get("guard_timeout_h", DEFAULT_TIMEOUT_H)),
        )

    def absolute_of(self, name: str) -> int | None:
        return dict(self.absolute).get(name)


def count_limit(spec: GuardSpec, limits: DistrictLimits, usual: float | None, base: int) -> tuple[float | None, str]:
    """(the limit, where it comes from) for one count guard; None: the guard does not apply tonight."""
    absolute = limits.absolute_of(spec.name)
    if absolute is not None:
        return float(absolute), "district setting"
    if usual is not None:
        return max(float(spec.floor), limits.factor * usual), f"{limits.factor:g} x usual"
    if spec.share is None:
        return None, "no history yet"
    return max(float(spec.floor), spec.share * base), f"{spec.share:.0%} of {base:,} (no history yet)"


def defaults_table() -> list[dict[str, Any]]:
    """Every guard with its default (README and `passback district show`)."""
    rows = [
        {
            "guard": g.name,
            "setting": g.option,
            "floor": g.floor,
            "first_nights": f"{g.share:.0%} of {g.base}" if g.share else "none",
            "what": g.what,
        }
        for g in COUNT_GUARDS
    ]
    rows.append(
        {
            "guard": ZERO_SHARE,
            "setting": "--guard-zero-share",
            "floor": MIN_STUDENTS,
            "first_nights": f"{DEFAULT_ZERO_SHARE:.0%}",
            "what": ZERO_SHARE_WHAT,
        }
    )
    return rows
