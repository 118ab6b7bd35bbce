"""Write one run's report: the row outcomes (parquet), the GX Data Docs, the run page; or, for a
failed run, a page with the error and what to do.  The district's index is rebuilt by ``index``."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from passback.report import docs_reuse, model
from passback.report.drift import drift_words
from passback.report.html import kind_label, render, what_to_do
from passback.report.outcomes import RowOutcomes, row_outcomes
from passback.report.site import ReportSite, write_page
from passback.store import audit

log = logging.getLogger("passback.report")

ASSESSMENT_FILE, SCORE_FILE = "assessments.parquet", "scores.parquet"
ASSESSMENT_COLUMNS = ["assessment_id", "outcome", "reason", "value", "message"]
SCORE_COLUMNS = ["assessment_id", "student_id", "outcome", "reason", "value", "message"]
COMPARABLE_KINDS = ("sync", "dry_run")  # a backfill preview evaluates another date: not a baseline
REUSE_LOOKBACK = 5  # earlier runs whose Data Docs may be reused


def outcome_tables(outcomes: RowOutcomes) -> dict[str, pa.Table]:
    """The per-row outcomes as Arrow tables, by file name (Arrow tables are immutable: another
    thread may write them while this one goes on reading the frames)."""
    return {
        name: pa.Table.from_pandas(frame[columns], preserve_index=False)
        for name, frame, columns in (
            (ASSESSMENT_FILE, outcomes.assessments, ASSESSMENT_COLUMNS),
            (SCORE_FILE, outcomes.scores, SCORE_COLUMNS),
        )
    }


def write_outcomes(folder: Path, tables: dict[str, pa.Table]) -> list[str]:
    """The complete per-row outcomes, zstd-compressed (a few MB for millions of scores)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        # ids are not dictionary-encoded: zstd packs their runs (rows come by assessment) smaller
        # than a dictionary that overflows its page (L's 4.8M scores: 3.6 MB not 5.9, -27 % CPU)
        coded = [c for c in table.column_names if c not in ("assessment_id", "student_id")]
        pq.write_table(table, folder / name, compression="zstd", use_dictionary=coded)
    return list(tables)


def read_outcomes(folder: Path, kind: str, columns: list[str] | None = None) -> pd.DataFrame:
    name = ASSESSMENT_FILE if kind == "assessment" else SCORE_FILE
    return pq.read_table(folder / name, columns=columns).to_pandas()


def previous_outcomes(site: ReportSite, earlier: list[Any]) -> tuple[str | None, str | None, pd.DataFrame | None]:
    """(run id, page, held-back assessments) of the latest earlier sync or dry run with a report."""
    for run in earlier:
        if run.kind not in COMPARABLE_KINDS or not run.data_docs:
            continue
        folder = site.path(run.data_docs).parent
        if (folder / ASSESSMENT_FILE).exists():
            return run.id, run.data_docs, read_outcomes(folder, "assessment", ["assessment_id", "reason"])
    return None, None, None


def write_run_report(
    site: ReportSite,
    engine: Any,
    *,
    district_id: str,
    run_id: str,
    kind: str,
    detail: str | None,
    started_at: dt.datetime,
    summary: dict[str, Any],
    evaluation: Any,
    load: Any | None,
    dry_run: bool,
) -> tuple[str, list[model.Section]]:
    """Build the run's folder; returns its page (relative to the site root) and the reason sections."""
    t0 = time.perf_counter()
    page = site.run_page(district_id, run_id, started_at)
    folder = site.path(page).parent
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    outcomes = row_outcomes(evaluation, load, dry_run=dry_run)
    from passback.store.runs import recent_runs

    # Arrow compresses and writes the outcome files outside the GIL: on a thread of their own while
    # the page is made (L: ~1 s of a quiet night's report); the page is written once they are
    with ThreadPoolExecutor(1, thread_name_prefix="passback-outcomes") as writer:
        written = writer.submit(write_outcomes, folder, outcome_tables(outcomes))
        earlier = [run for run in recent_runs(engine, district_id, 30) if run.id != run_id]  # newest first
        prev_id, prev_page, previous = previous_outcomes(site, earlier)
        titles = evaluation.assessments.drop_duplicates("id").set_index("id")["title"]
        changes = model.changes(outcomes, titles, previous, prev_id)
        sections = model.sections(evaluation, outcomes)
        report = model.RunReport(
            district_id,
            run_id,
            kind,
            detail or "",
            f"{started_at:%Y-%m-%d %H:%M:%S}",
            summary["status"],
            summary,
            sections,
            changes,
        )
        gx, gx_reused = _data_docs(folder / "gx", evaluation, district_id, earlier_docs(site, earlier))
        files = written.result()
    previous_link = _relative(page, prev_page) if prev_page else None
    drift, drift_total = audit.drift_found(engine, district_id)
    html = render(
        "run.html",
        r=_view(report, previous_link),
        gx=gx,
        gx_reused=gx_reused,
        files=files,
        drift=[{**d, "what": drift_words(d)} for d in drift],
        drift_total=drift_total,
    )
    write_page(folder / "index.html", html)
    log.debug("district %s: report written in %.2f s", district_id, time.perf_counter() - t0)
    return page, sections


def write_failure_page(
    site: ReportSite,
    *,
    district_id: str,
    run_id: str,
    kind: str,
    detail: str | None,
    started_at: dt.datetime,
    summary: dict[str, Any],
) -> str:
    page = site.run_page(district_id, run_id, started_at)
    folder = site.path(page).parent
    folder.mkdir(parents=True, exist_ok=True)
    view = {
        "district": district_id,
        "run_id": run_id,
        "kind_label": kind_label(kind, detail),
        "started_at": f"{started_at:%Y-%m-%d %H:%M:%S}",
        "summary": summary,
    }
    write_page(folder / "index.html", render("failed.html", r=view, steps=what_to_do(district_id)))
    return page


def _view(report: model.RunReport, previous_link: str | None) -> dict[str, Any]:
    view = dict(report.__dict__)
    view["kind_label"] = kind_label(report.kind, report.detail or None)
    if report.changes is not None:
        view["changes"] = {**report.changes.__dict__, "previous_link": previous_link}
    return view


def _relative(page: str, other: str) -> str:
    """Link from one run page to another (both relative to the site root)."""
    depth = page.count("/")
    return "../" * depth + other


def earlier_docs(site: ReportSite, earlier: list[Any]) -> list[Path]:
    """The Data Docs folders of the district's latest earlier runs, newest first (candidates for reuse)."""
    return [site.path(run.data_docs).parent / "gx" for run in earlier[:REUSE_LOOKBACK] if run.data_docs]


def _data_docs(directory: Path, evaluation: Any, district_id: str, earlier: list[Path]) -> tuple[bool, str | None]:
    """Build (or reuse, when an earlier build rendered the same results) this run's Data Docs:
    (built or reused, the run folder whose pages were reused)."""
    from passback.quality import build_data_docs

    if not evaluation.validation_results:
        return False, None
    results = [(f"{district_id} {label}", result) for label, result in evaluation.validation_results]
    try:
        digest = docs_reuse.results_digest(results)
        source = docs_reuse.reuse(directory, digest, earlier)
        if source is not None:
            log.debug("district %s: Data Docs reused from %s (same validation results)", district_id, source)
            return True, source.parent.name
        build_data_docs(results, directory, back_link="../index.html")
        docs_reuse.mark_built(directory, digest)
    except Exception as exc:  # noqa: BLE001 - the report must not fail the run
        log.warning("district %s: Data Docs were not built: %s", district_id, exc)
        return False, None
    return True, None
