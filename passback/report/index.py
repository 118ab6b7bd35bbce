"""The district's index of kept runs (with the trend charts) and the site's list of districts; the
retention setting decides which runs are kept, and the folders of the others are removed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from typing import Any

from passback.report import svg
from passback.report.html import kind_label, render, safe_svg
from passback.report.site import ReportSite, write_page

TOP_SERIES = 8
SCAN_LIMIT = 100_000
LEGACY_FOLDERS = ("validations", "expectations", "static")


@dataclass
class RunRow:
    id: str
    started_at: dt.datetime
    kind: str
    status: str
    summary: dict[str, Any]
    page: str | None
    error: str | None

    @property
    def detail(self) -> str | None:
        return self.summary.get("detail") or None

    @property
    def held(self) -> int:
        return sum(int(v) for v in (self.summary.get("reasons") or {}).values())

    @property
    def writes(self) -> int:
        return int(self.summary.get("writes") or 0)


def kept_runs(site: ReportSite, runs: list[Any], now: dt.datetime | None = None) -> list[Any]:
    """Newest first: the last ``keep_runs`` runs, or every run of the last ``keep_days`` days,
    whichever keeps more."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    since = now - dt.timedelta(days=site.keep_days)
    ordered = sorted(runs, key=lambda r: r.started_at, reverse=True)
    return [r for i, r in enumerate(ordered) if i < site.keep_runs or r.started_at >= since]


def _rows(engine: Any, district_id: str) -> list[RunRow]:
    from passback.store.runs import recent_runs

    out = []
    for r in recent_runs(engine, district_id, SCAN_LIMIT):
        try:
            summary = json.loads(r.counts) if isinstance(r.counts, str) else (r.counts or {})
        except ValueError:
            summary = {}
        out.append(RunRow(r.id, r.started_at, (summary.get("kind") or r.kind), r.status, summary, r.data_docs, r.error))
    return out


def publish_index(site: ReportSite, engine: Any, district_id: str, now: dt.datetime | None = None) -> str:
    """Rebuild ``<key>/index.html`` and the site's ``index.html``; prune runs past retention.
    Returns the district index page relative to the site root."""
    rows = _rows(engine, district_id)
    kept = kept_runs(site, rows, now)
    district_dir = site.district_dir(district_id)
    runs_dir = district_dir / "runs"
    keep = {site.path(r.page).parent.name for r in kept if r.page}
    keep |= {site.run_folder(r.id, r.started_at) for r in rows if r.status == "running"}
    if runs_dir.exists():
        for folder in runs_dir.iterdir():
            if folder.is_dir() and folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)
    district_dir.mkdir(parents=True, exist_ok=True)
    for legacy in LEGACY_FOLDERS:  # the one-report-per-district layout of earlier versions
        shutil.rmtree(district_dir / legacy, ignore_errors=True)
    prefix = f"{district_dir.name}/"
    decisions = guard_decisions(engine, district_id, kept)
    view = [
        {
            "id": r.id,
            "started": f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            "kind_label": kind_label(r.kind, r.detail),
            "status": r.status,
            "writes": r.writes,
            "held": r.held,
            "error": r.error,
            "li": _cu(r.summary.get("line_items")),
            "res": _cu(r.summary.get("results")),
            "top": sorted((r.summary.get("reasons") or {}).items(), key=lambda kv: -kv[1])[:3],
            "link": r.page.removeprefix(prefix) if r.page and site.path(r.page).exists() else None,
            "decision": decisions.get(r.id, ""),
        }
        for r in kept
    ]
    html = render(
        "district.html",
        district=district_id,
        runs=view,
        charts=trend(kept),
        keep_runs=site.keep_runs,
        keep_days=site.keep_days,
    )
    write_page(district_dir / "index.html", html)
    _publish_root(site, engine)
    return f"{district_dir.name}/index.html"


def guard_decisions(engine: Any, district_id: str, runs: list[RunRow]) -> dict[str, str]:
    """Per run: who approved or rejected its held plan (and when, and why), or whose approval it wrote."""
    from passback.store.holds import by_run

    holds = by_run(engine, district_id)
    out: dict[str, str] = {}
    for r in runs:
        hold = holds.get(r.id)
        if r.status == "held" and hold is not None:
            out[r.id] = (
                f"{hold.status} by {hold.decided_by} {hold.decided_at:%Y-%m-%d %H:%M}"
                + (f": {hold.note}" if hold.note else "")
                if hold.decided_by and hold.decided_at
                else f"guard: {(r.summary.get('hold') or {}).get('why', '')}"
            )
        for a in r.summary.get("approvals") or []:
            out[r.id] = f"wrote a plan approved by {a.get('decided_by')} {a.get('decided_at')}" + (
                f": {a['note']}" if a.get("note") else ""
            )
    return out


def _cu(counts: dict[str, int] | None) -> str:
    counts = counts or {}
    return f"{int(counts.get('created', 0)):,} / {int(counts.get('updated', 0)):,}"


def trend(runs: list[RunRow]) -> list[Any]:
    """Writes per run, and held-back rows per reason (the top reasons over the kept runs)."""
    chrono = [r for r in reversed(runs) if r.status not in ("running",)]
    if not chrono:
        return []
    labels = [f"{r.started_at:%m-%d %H:%M}" for r in chrono]
    totals: dict[str, int] = {}
    for r in chrono:
        for code, n in (r.summary.get("reasons") or {}).items():
            totals[code] = totals.get(code, 0) + int(n)
    top = [c for c, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:TOP_SERIES]]
    series = {code: [float((r.summary.get("reasons") or {}).get(code, 0)) for r in chrono] for code in top}
    others = [c for c in totals if c not in top]
    if others:
        series["other reasons"] = [
            float(sum(int((r.summary.get("reasons") or {}).get(c, 0)) for c in others)) for r in chrono
        ]
    charts = [
        svg.bars("Writes per run (lineItems + results sent to the SIS)", labels, [float(r.writes) for r in chrono])
    ]
    if series:
        charts.append(svg.lines("Held-back rows per reason", labels, series))  # type: ignore[arg-type]
    return [safe_svg(c) for c in charts]


def _publish_root(site: ReportSite, engine: Any) -> None:
    """``index.html`` at the site root: every district with a folder here, and its last run."""
    from passback.store.districts import list_districts

    districts = []
    for d in list_districts(engine):
        folder = site.district_dir(d.id)
        if not (folder / "index.html").exists():
            continue
        last = _rows_last(engine, d.id)
        districts.append(
            {
                "district": d.id,
                "link": f"{folder.name}/index.html",
                "started": f"{last.started_at:%Y-%m-%d %H:%M:%S}" if last else "",
                "kind_label": kind_label(last.kind, last.detail) if last else "",
                "status": last.status if last else "",
                "held": last.held if last else 0,
            }
        )
    site.root.mkdir(parents=True, exist_ok=True)
    write_page(site.root / "index.html", render("root.html", districts=districts))


def _rows_last(engine: Any, district_id: str) -> RunRow | None:
    from passback.store.runs import recent_runs

    runs = recent_runs(engine, district_id, 1)
    if not runs:
        return None
    r = runs[0]
    summary = json.loads(r.counts) if isinstance(r.counts, str) and r.counts else {}
    return RunRow(r.id, r.started_at, summary.get("kind") or r.kind, r.status, summary, r.data_docs, r.error)
