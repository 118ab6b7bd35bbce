"""``check_guards``: a plan's writes against the district's limits and its own history.

This is the one guard check: the district run calls it between evaluate and load, and anything
else about to write in bulk (a reconcile's restore) can call it with its own writes.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from passback.guards.limits import (
    COUNT_GUARDS,
    HISTORY_RUNS,
    NAMES,
    ZERO_SHARE,
    ZERO_SHARE_WHAT,
    DistrictLimits,
    count_limit,
)
from passback.guards.measure import Measures, Writes, digest, measure

HISTORY_SCAN = 50  # recent runs read to find the last HISTORY_RUNS ordinary ones


@dataclass
class GuardResult:
    name: str
    value: float
    limit: float | None  # None: the guard does not apply tonight
    usual: float | None
    basis: str
    what: str

    @property
    def tripped(self) -> bool:
        return self.limit is not None and self.value > self.limit

    def as_json(self) -> dict[str, Any]:
        def num(v: float | None) -> float | int | None:
            if v is None:
                return None
            return int(v) if float(v).is_integer() and self.name != ZERO_SHARE else round(float(v), 3)

        return {"name": self.name, "value": num(self.value), "limit": num(self.limit), "usual": num(self.usual)}

    def text(self) -> str:
        """``new_zeros 120 > 50 (usual 8)``"""
        fmt = (lambda v: f"{v:.0%}") if self.name == ZERO_SHARE else (lambda v: f"{v:,.0f}")
        usual = f"usual {fmt(self.usual)}" if self.usual is not None else "no history yet"
        limit = fmt(self.limit) if self.limit is not None else "none"
        return f"{self.name} {fmt(self.value)} {'>' if self.tripped else '≤'} {limit} ({usual})"


@dataclass
class GuardCheck:
    district_id: str
    enabled: bool
    results: list[GuardResult]
    writes: Writes  # every write of the plan (what an approval covers)
    measured: Writes  # those no earlier approval covers (what the guards measured)
    measures: Measures
    covered: int = 0  # writes an earlier approval covers (not measured)
    approvals: list[str] = field(default_factory=list)  # ids of the approved holds that cover them

    @property
    def tripped(self) -> list[GuardResult]:
        return [r for r in self.results if r.tripped] if self.enabled else []

    def guards_json(self) -> list[dict[str, Any]]:
        """The tripped guards, as ``sync --json`` lists them."""
        return [r.as_json() for r in self.tripped]

    def measures_json(self) -> dict[str, Any]:
        """Every guard's value tonight (the history the next nights compare with)."""
        return {
            "values": {r.name: r.value for r in self.results},
            "first_night": self.writes.first_night,
            "approved": bool(self.approvals),
            "covered": self.covered,
            "enabled": self.enabled,
        }

    def why(self) -> str:
        return "; ".join(r.text() for r in self.tripped)

    def digest(self) -> str:
        return digest(self.writes.keys())


def check_guards(
    engine: Engine,
    district: Any,
    writes: Writes,
    *,
    students: pd.Series | None = None,
    approved: np.ndarray | None = None,
    approvals: list[str] | None = None,
) -> GuardCheck:
    """Measure ``writes`` (minus those ``approved`` covers) and compare with the district's limits.

    ``district``: the District row (its guard settings); ``students``: score rows per assessment
    id (for zero_share); ``approved``: sorted write keys of approved holds."""
    limits = DistrictLimits.of(district)
    measured, covered = writes.without(approved if approved is not None else np.empty(0, dtype="uint64"))
    m = measure(measured, students)
    usual = usual_values(engine, district.id)
    results = []
    for spec in COUNT_GUARDS:
        base = int(getattr(writes, spec.base)) if spec.base else 0
        limit, basis = count_limit(spec, limits, usual.get(spec.name), base)
        results.append(GuardResult(spec.name, m.values[spec.name], limit, usual.get(spec.name), basis, spec.what))
    results.append(
        GuardResult(
            ZERO_SHARE,
            m.values[ZERO_SHARE],
            limits.zero_share,
            usual.get(ZERO_SHARE),
            "district setting" if getattr(district, "guard_zero_share", None) is not None else "default",
            ZERO_SHARE_WHAT,
        )
    )
    return GuardCheck(
        district.id,
        limits.enabled,
        results,
        writes,
        measured,
        m,
        covered=covered,
        approvals=list(approvals or []) if covered else [],
    )


def usual_values(engine: Engine, district_id: str) -> dict[str, float]:
    """Median of each guard's value over the district's last ordinary runs (completed syncs that were
    neither its first night nor an approved exception)."""
    from passback.store.runs import recent_runs

    samples: dict[str, list[float]] = {name: [] for name in NAMES}
    taken = 0
    for run in recent_runs(engine, district_id, HISTORY_SCAN):
        if taken >= HISTORY_RUNS:
            break
        if run.kind != "sync" or run.status not in ("completed", "partial") or not run.counts:
            continue
        try:
            measures = (json.loads(run.counts) or {}).get("guard_measures") or {}
        except ValueError:
            continue
        if not measures.get("values") or measures.get("first_night") or measures.get("approved"):
            continue
        taken += 1
        for name, value in measures["values"].items():
            if name in samples and value is not None:
                samples[name].append(float(value))
    return {name: float(statistics.median(v)) for name, v in samples.items() if v}
