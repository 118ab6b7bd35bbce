"""What people read outside the report: the Prefect summary (markdown), the one INFO line per
district run, the flow run's state message and the CLI's reason lines.

Every reason with its meaning and count (never cut), the top held-back assessments per reason (id,
title, class, teacher, value) and no student names or ids: the Prefect server may be shared.  A
link to the report only when it is a URL (``PASSBACK_REPORT_BASE_URL``), never a worker's path.
Text from Otus or the SIS is escaped for markdown tables and HTML.
"""

from __future__ import annotations

import html
import re
from typing import Any

from passback.quality.meanings import ALL_REASONS, meaning_of

OUTCOME_KEYS = ("created", "updated", "unchanged", "ineligible", "rejected", "failed", "pending")
MAX_REFUSED = 50
_SPACE = re.compile(r"\s+")


def cell(value: Any, limit: int = 160) -> str:
    """Safe in a markdown table cell: one line, pipes and HTML escaped, bounded."""
    text = _SPACE.sub(" ", "" if value is None else str(value)).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text).replace("|", "\\|")


def is_url(location: str | None) -> bool:
    return bool(location) and str(location).startswith(("http://", "https://"))


def ordered_reasons(reasons: dict[str, int]) -> list[tuple[str, int]]:
    """Every reason with rows, in rule order (unknown codes last)."""
    rank = {code: i for i, code in enumerate(ALL_REASONS)}
    return sorted(((k, int(v)) for k, v in reasons.items() if v), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))


def summary_markdown(s: dict[str, Any]) -> str:
    kind = s.get("kind") or "sync"
    detail = f" (effective date {s['detail']})" if s.get("detail") else ""
    lines = [
        f"# Grade passback — district `{cell(s['district'])}`: **{s['status']}** ({kind.replace('_', ' ')}{detail})",
        "",
    ]
    if s.get("error"):
        lines += [f"> **Error:** {cell(s['error'], 4000)}", ""]
    lines += guard_lines(s)
    lines += ["| | " + " | ".join(OUTCOME_KEYS) + " |", "|---" * (len(OUTCOME_KEYS) + 1) + "|"]
    for label, key in (("lineItems", "line_items"), ("results", "results")):
        counts = s.get(key) or {}
        lines.append(f"| {label} | " + " | ".join(f"{int(counts.get(k, 0)):,}" for k in OUTCOME_KEYS) + " |")
    lines += [
        "",
        f"Writes: {int(s.get('writes') or 0):,} in {float(s.get('seconds') or 0):.1f} s "
        f"({float(s.get('writes_per_s') or 0):.1f}/s); the district run took {float(s.get('run_seconds') or 0):.1f} s.",
    ]
    if s.get("backlog"):
        eta = f"~{s['eta_seconds'] / 3600:.1f} h at this rate" if s.get("eta_seconds") else "unknown"
        lines.append(f"Backlog: {int(s['backlog']):,} writes remain (ETA {eta}); the next run resumes them.")
    by_kind = s.get("reasons_by_kind") or {}
    rows = [
        (kind_, code, n) for kind_ in ("assessment", "score") for code, n in ordered_reasons(by_kind.get(kind_) or {})
    ]
    if not rows and s.get("reasons"):
        rows = [("", code, n) for code, n in ordered_reasons(s["reasons"])]
    if rows:
        lines += [
            "",
            f"## Held back, by reason ({len(rows)} reasons, in rule order)",
            "",
            "| reason | of | rows | what it means | who fixes it, and how |",
            "|---|---|---|---|---|",
        ]
        for kind_, code, n in rows:
            m = meaning_of(code)
            lines.append(
                f"| `{code}` | {kind_}s | {n:,} | {cell(m.meaning, 400)} | {cell(m.who_text)}: {cell(m.fix, 400)} |"
            )
    top = s.get("top_held") or {}
    if top:
        lines += [
            "",
            "## Top held-back assessments per reason",
            "",
            "| reason | assessment | title | class (Otus / Skyward) | teacher | offending value | scores |",
            "|---|---|---|---|---|---|---|",
        ]
        for code in [c for c in ALL_REASONS if c in top] + [c for c in top if c not in ALL_REASONS]:
            for a in top[code]:
                lines.append(
                    f"| `{code}` | {cell(a.get('assessment_id'))} | {cell(a.get('title'))} | "
                    f"{cell(a.get('class_id'))} / {cell(a.get('class_sis_id')) or '—'} | "
                    f"{cell(a.get('assigner_name'))} ({cell(a.get('assigned_by'))}) | {cell(a.get('value'))} | "
                    f"{int(a.get('scores') or 0):,} |"
                )
    refused = s.get("rejected") or []
    if refused:
        shown = refused[:MAX_REFUSED]
        lines += [
            "",
            f"## Refused by the SIS ({len(shown)} of {len(refused)} listed{'; every one is in the report' if len(refused) > len(shown) else ''})",
            "",
            "| kind | assessment | message |",
            "|---|---|---|",
        ]
        lines += [
            f"| {cell(d.get('kind'))} | {cell(d.get('assessment_id'))} | {cell(d.get('message'), 300)} |" for d in shown
        ]
    location = s.get("data_docs")
    if is_url(location):
        lines += ["", f"Validation report: [{cell(location)}]({location})"]
    elif s.get("report_page"):
        lines += ["", "Validation report: written on the worker; set `PASSBACK_REPORT_BASE_URL` to link it here."]
    return "\n".join(lines)


def guard_lines(s: dict[str, Any]) -> list[str]:
    """A held district (nothing written): why, and how to approve; approvals this run wrote."""
    lines: list[str] = []
    hold = s.get("hold") or {}
    if s.get("status") == "held":
        lines += [
            f"> **Held for approval — nothing written.** {cell(hold.get('why'), 1000)}. "
            f"Approve in the paused run's Resume form, or `{cell(hold.get('command'))}`.",
            "",
        ]
        if hold.get("decided_by"):
            lines += [
                f"> {cell(hold.get('status'))} by {cell(hold.get('decided_by'))}: {cell(hold.get('note') or '(no note)', 1000)}",
                "",
            ]
    elif s.get("guards"):
        lines += [
            "> A sync of this plan would be held for approval: "
            + cell("; ".join(f"{g['name']} {g['value']} > {g['limit']}" for g in s["guards"]), 1000),
            "",
        ]
    if s.get("guards"):
        lines += ["| guard | tonight | limit | usual |", "|---|---|---|---|"]
        lines += [
            f"| {cell(g['name'])} | {g['value']} | {g['limit']} | {'—' if g.get('usual') is None else g['usual']} |"
            for g in s["guards"]
        ] + [""]
    for a in s.get("approvals") or []:
        lines += [
            f"> Writes a plan approved by {cell(a.get('decided_by'))} at {cell(a.get('decided_at'))} UTC: "
            f"{cell(a.get('note') or '(no note)', 1000)}",
            "",
        ]
    return lines


def summary_line(s: dict[str, Any], top: int = 5) -> str:
    """One log line with the numbers of a district run."""

    def kinds(counts: dict[str, int] | None) -> str:
        counts = counts or {}
        return " ".join(f"{k} {int(counts.get(k, 0)):,}" for k in OUTCOME_KEYS if counts.get(k))

    held = sum(int(v) for v in (s.get("reasons") or {}).values())
    reasons = ", ".join(
        f"{k} {v:,}"
        for k, v in sorted(((k, int(v)) for k, v in (s.get("reasons") or {}).items()), key=lambda kv: -kv[1])[:top]
    )
    text = (
        f"district {s['district']} {(s.get('kind') or 'sync').replace('_', ' ')} {s['status']} in "
        f"{float(s.get('run_seconds') or 0):.1f} s: lineItems [{kinds(s.get('line_items')) or 'none'}], "
        f"results [{kinds(s.get('results')) or 'none'}]; writes {int(s.get('writes') or 0):,}; held back {held:,} rows"
        + (f" (top: {reasons})" if reasons else "")
    )
    if s.get("error"):
        text += f"; error: {s['error']}"
    return text


def state_message(s: dict[str, Any]) -> str:
    """The flow run's state message: the counts (and the whole error of a failed district)."""
    li, res = s.get("line_items") or {}, s.get("results") or {}
    held = sum(int(v) for v in (s.get("reasons") or {}).values())
    text = (
        f"district {s['district']}: {s['status']} — lineItems {int(li.get('created', 0)):,} created, "
        f"{int(li.get('updated', 0)):,} updated, {int(li.get('unchanged', 0)):,} unchanged; results "
        f"{int(res.get('created', 0)):,} created, {int(res.get('updated', 0)):,} updated, "
        f"{int(res.get('unchanged', 0)):,} unchanged; rejected {int(li.get('rejected', 0)) + int(res.get('rejected', 0)):,}; "
        f"held back {held:,} rows"
    )
    if s.get("error"):
        text += f" — {s['error']}"
    if s.get("status") == "held":
        hold = s.get("hold") or {}
        text += f" — held for approval, nothing written: {hold.get('why')}; approve with `{hold.get('command')}`"
    return text


def reason_lines(reasons: dict[str, int]) -> list[tuple[str, int, str]]:
    """(code, rows, meaning) for every reason in rule order (the CLI summary)."""
    return [(code, n, meaning_of(code).meaning) for code, n in ordered_reasons(reasons)]
