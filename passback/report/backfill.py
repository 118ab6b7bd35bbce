"""The backfill preview: which assessments change status under a new effective date (newly eligible,
newly held, or held for another reason), with the old and new reason, and the writes applying it
would cause.  The current date's reasons come from the same rules (GX) run with the stored date."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from passback.quality.meanings import meaning_of
from passback.report.artifacts import cell

MAX_LISTED = 500


@dataclass
class BackfillPreview:
    district: str
    old_date: str
    new_date: str
    newly_eligible: list[dict[str, Any]] = field(default_factory=list)
    newly_held: list[dict[str, Any]] = field(default_factory=list)
    reason_changed: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    writes: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def current_reasons(run: Any, source: Any, sis: Any) -> pd.Series:
    """Each assessment's reason under the district's stored effective date (NA = eligible)."""
    from passback.sync.evaluate import classify

    context = dataclasses.replace(run.context(sis), effective_date=run.district.effective_date)
    assessments, _, _ = classify(source, context)
    return _by_id(assessments)


def _by_id(assessments: pd.DataFrame) -> pd.Series:
    firsts = assessments[~assessments["is_duplicate"]]
    return pd.Series(firsts["reason"].to_numpy(), index=firsts["id"].astype("str"), dtype=object)


def preview(district: str, old_date: Any, new_date: Any, before: pd.Series, evaluation: Any) -> BackfillPreview:
    after = _by_id(evaluation.assessments)
    before = before.reindex(after.index)
    held_before, held_after = before.notna(), after.notna()
    plan = evaluation.plan
    li = plan.line_items.set_index("assessment_id")["action"] if len(plan.line_items) else pd.Series(dtype=object)
    res_writes = plan.result_writes["assessment_id"].value_counts() if len(plan.results) else pd.Series(dtype="int64")
    firsts = evaluation.assessments[~evaluation.assessments["is_duplicate"]].set_index("id")

    def rows(ids: pd.Index) -> list[dict[str, Any]]:
        out = []
        for i in ids[:MAX_LISTED]:
            a = firsts.loc[i]
            out.append(
                {
                    "assessment_id": i,
                    "title": _text(a.get("title")),
                    "class_id": _text(a.get("class_id")),
                    "assigned_by": _text(a.get("assigned_by")),
                    "assign_date": _day(a.get("assign_date")),
                    "old_reason": _text(before.get(i)) or None,
                    "new_reason": _text(after.get(i)) or None,
                    "line_item": _text(li.get(i)) or None,
                    "result_writes": int(res_writes.get(i, 0)),
                }
            )
        return out

    newly_eligible = after.index[(held_before & ~held_after).to_numpy()]
    newly_held = after.index[(~held_before & held_after).to_numpy()]
    changed = after.index[(held_before & held_after & (before != after)).to_numpy()]
    counts = plan.counts()
    return BackfillPreview(
        district,
        str(old_date),
        str(new_date),
        rows(newly_eligible),
        rows(newly_held),
        rows(changed),
        {
            "newly_eligible": len(newly_eligible),
            "newly_held": len(newly_held),
            "reason_changed": len(changed),
            "before_effective_date_now": int((before == "before_effective_date").sum()),
            "before_effective_date_after": int((after == "before_effective_date").sum()),
        },
        {
            "line_items": {k: int(counts["line_items"].get(k, 0)) for k in ("create", "update")},
            "results": {k: int(counts["results"].get(k, 0)) for k in ("create", "update")},
        },
    )


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _day(value: Any) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def markdown(p: dict[str, Any]) -> str:
    """The preview as the backfill deployment's artifact (no student data)."""
    t, w = p["totals"], p["writes"]
    lines = [
        f"# Backfill preview — district `{cell(p['district'])}`: effective date {p['old_date']} → {p['new_date']}",
        "",
        f"**{t['newly_eligible']}** assessments become eligible, **{t['newly_held']}** become held back, "
        f"{t['reason_changed']} stay held for another reason.",
        f"Held as `before_effective_date`: {t['before_effective_date_now']} now, {t['before_effective_date_after']} with the new date.",
        f"Applying it would write lineItems: {w['line_items']['create']:,} new, {w['line_items']['update']:,} updated; "
        f"results: {w['results']['create']:,} new, {w['results']['update']:,} updated.",
        "",
    ]
    for title, key in (
        ("Newly eligible", "newly_eligible"),
        ("Newly held back", "newly_held"),
        ("Still held, for another reason", "reason_changed"),
    ):
        items = p[key]
        if not items:
            continue
        lines += [
            f"## {title} ({t[key]})",
            "",
            "| assessment | title | class | assigned by | assigned | reason now | reason with the new date | lineItem | result writes |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {cell(a['assessment_id'])} | {cell(a['title'])} | {cell(a['class_id'])} | {cell(a['assigned_by'])} | "
            f"{a['assign_date']} | {_reason(a['old_reason'])} | {_reason(a['new_reason'])} | {a['line_item'] or '—'} | "
            f"{a['result_writes']:,} |"
            for a in items
        ]
        if t[key] > len(items):
            lines.append(f"\n… and {t[key] - len(items)} more.")
        lines.append("")
    return "\n".join(lines)


def _reason(code: str | None) -> str:
    return f"`{code}` ({cell(meaning_of(code).meaning, 80)})" if code else "eligible"
