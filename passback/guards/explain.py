"""What drives a tripped guard (top assessments, classes, teachers; a few sample rows) and the
markdown a person reads before approving — in the paused Prefect run's form, the artifact, the CLI.

No student names and no student ids: the Prefect server may be shared.  Text from Otus is escaped
for markdown tables (``passback.report.artifacts.cell``).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from passback.guards.check import GuardCheck, GuardResult
from passback.guards.limits import ZERO_SHARE
from passback.report.artifacts import cell

TOP = 5
SAMPLES = 5


def assessment_info(
    assessments: pd.DataFrame | None, users: pd.DataFrame | None, classes: pd.DataFrame | None
) -> pd.DataFrame | None:
    """Per assessment id: title, class (Otus title / Skyward id) and teacher (name and Otus id)."""
    if assessments is None or assessments.empty:
        return None
    first = assessments[~assessments["id"].duplicated()].set_index("id")
    names = pd.Series(dtype="str")
    if users is not None and len(users):
        u = users[~users["id"].duplicated()].set_index("id")
        names = (u["given_name"].astype("str").fillna("") + " " + u["family_name"].astype("str").fillna("")).str.strip()
    titles = pd.Series(dtype="str")
    if classes is not None and len(classes):
        c = classes[~classes["id"].duplicated()].set_index("id")
        titles = c["title"].astype("str")
    class_sis = first["class_sis_id"].astype("str") if "class_sis_id" in first else first["class_id"].astype("str")
    return pd.DataFrame(
        {
            "title": first["title"].astype("str"),
            "class": first["class_id"].map(titles).fillna(first["class_id"]).astype("str")
            + " / "
            + class_sis.fillna("—"),
            "teacher": first["assigned_by"].map(names).fillna("").astype("str")
            + " ("
            + first["assigned_by"].astype("str")
            + ")",
        }
    )


def driving_rows(check: GuardCheck, result: GuardResult) -> pd.DataFrame:
    """The writes that make a guard's value (assessment_id, kind, prev_score, score)."""
    m, w = check.measures, check.measured
    li = w.line_items.assign(kind="lineItem", prev_score=float("nan"), score=float("nan"))
    res = w.results.assign(kind="result")
    if result.name in m.result_rows:
        return res[m.result_rows[result.name]]
    if result.name in m.line_item_rows:
        return li[m.line_item_rows[result.name]]
    if result.name == ZERO_SHARE:
        over = m.zero_shares.index[m.zero_shares["share"] > (result.limit or 0)] if m.zero_shares is not None else []
        zero = res[m.result_rows["new_zeros"]]
        return zero[zero["assessment_id"].isin(pd.Index(over))]
    return pd.concat([li, res])


def drivers(check: GuardCheck, info: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Per tripped guard: top assessments, classes and teachers with counts, and a few sample rows."""
    out: dict[str, dict[str, Any]] = {}
    for result in check.tripped:
        rows = driving_rows(check, result)
        ids = rows["assessment_id"].astype("str")
        per = ids.value_counts()
        entry: dict[str, Any] = {"rows": len(rows), "assessments": [], "classes": [], "teachers": [], "samples": []}
        for aid, n in per.head(TOP).items():
            entry["assessments"].append({"assessment_id": aid, "title": _field(info, aid, "title"), "rows": int(n)})
        if info is not None and len(per):
            joined = info.reindex(per.index)
            for label in ("class", "teacher"):
                grouped = per.groupby(joined[label].fillna("—").to_numpy()).sum().sort_values(ascending=False)
                entry[f"{label}es" if label == "class" else "teachers"] = [
                    {label: str(k), "rows": int(v)} for k, v in grouped.head(TOP).items()
                ]
        if result.name == ZERO_SHARE and check.measures.zero_shares is not None:
            shares = check.measures.zero_shares
            entry["shares"] = [
                {
                    "assessment_id": str(a),
                    "title": _field(info, str(a), "title"),
                    "students": int(r.students),
                    "new_zeros": int(r.new_zeros),
                    "share": round(float(r.share), 3),
                }
                for a, r in shares[shares["share"] > (result.limit or 0)].head(TOP).iterrows()
            ]
        for r in rows.head(SAMPLES).itertuples():
            entry["samples"].append(
                {
                    "kind": r.kind,
                    "assessment_id": str(r.assessment_id),
                    "title": _field(info, str(r.assessment_id), "title"),
                    "class": _field(info, str(r.assessment_id), "class"),
                    "before": _num(r.prev_score),
                    "after": _num(r.score),
                }
            )
        out[result.name] = entry
    return out


def _field(info: pd.DataFrame | None, aid: str, column: str) -> str:
    if info is None or aid not in info.index:
        return ""
    return str(info.at[aid, column])


def _num(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(number) else f"{number:g}"


def markdown(check: GuardCheck, found: dict[str, dict[str, Any]], *, command: str, digest: str) -> str:
    """Each guard (tonight vs limit vs usual), what drives the tripped ones, and how to decide."""
    w = check.writes
    lines = [
        f"# District `{cell(check.district_id)}`: tonight's plan is held for approval",
        "",
        f"**Nothing has been written.** The plan holds {w.count:,} writes ({len(w.line_items):,} lineItems, "
        f"{len(w.results):,} results); plan `{digest[:12]}`."
        + (f" {check.covered:,} of them were approved before and are not counted below." if check.covered else ""),
        "",
        "| guard | tonight | limit | usual | limit from | what it measures |",
        "|---|---|---|---|---|---|",
    ]
    for r in check.results:
        j = r.as_json()
        mark = f"**{r.name}** ✘" if r.tripped else r.name
        fmt = (
            (lambda v: "—" if v is None else f"{v:.0%}")
            if r.name == ZERO_SHARE
            else (lambda v: "—" if v is None else f"{v:,.0f}")
        )
        lines.append(
            f"| {mark} | {fmt(j['value'])} | {fmt(j['limit'])} | {fmt(j['usual'])} | {cell(r.basis)} | {cell(r.what)} |"
        )
    for name, entry in found.items():
        lines += ["", f"## What drives `{name}` ({entry['rows']:,} writes)", ""]
        if entry.get("shares"):
            lines += ["| assessment | title | students | new zeros | share |", "|---|---|---|---|---|"]
            lines += [
                f"| {cell(s['assessment_id'])} | {cell(s['title'])} | {s['students']:,} | {s['new_zeros']:,} | "
                f"{s['share']:.0%} |"
                for s in entry["shares"]
            ]
            lines.append("")
        lines += ["| top assessments | title | writes |", "|---|---|---|"]
        lines += [f"| {cell(a['assessment_id'])} | {cell(a['title'])} | {a['rows']:,} |" for a in entry["assessments"]]
        for label, key in (("class (Otus / Skyward)", "classes"), ("teacher", "teachers")):
            if entry.get(key):
                col = "class" if key == "classes" else "teacher"
                lines += ["", f"| top {label} | writes |", "|---|---|"]
                lines += [f"| {cell(c[col])} | {c['rows']:,} |" for c in entry[key]]
        if entry["samples"]:
            lines += [
                "",
                "Sample rows (no student names or ids):",
                "",
                "| kind | assessment | title | class | before | after |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {s['kind']} | {cell(s['assessment_id'])} | {cell(s['title'])} | {cell(s['class'])} | "
                f"{cell(s['before']) or '—'} | {cell(s['after']) or '—'} |"
                for s in entry["samples"]
            ]
    lines += [
        "",
        (
            "**Approve** to write exactly this plan (if the Otus data changed meanwhile, the plan is made again "
            "and the guards check it first). **Reject** to write nothing tonight: the district ends `held`."
        ),
        f"From a shell: `{command}`.",
    ]
    return "\n".join(lines)
