"""Data Docs (GX's HTML report) for one run's validation results, readable offline.

Each build uses a fresh ephemeral context holding only the results passed in, with one named
site whose ``TupleFilesystemStoreBackend`` writes into ``directory``; only that site is built.
GX keeps a site equal to its store, so rebuilding into the same directory removes the pages of
earlier builds: use one directory per run to keep history.
GX's pages load Bootstrap/jQuery/fonts from CDNs and fill the index table with JavaScript, so
afterwards every page is post-processed: remote stylesheets, scripts and images are removed, a
small inline stylesheet is added, and the index gets a static table of this run's validations.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from passback.quality import _gx
from passback.quality.docs_results import readable

SITE_NAME = "passback"
OFFLINE_MARK = "passback-offline"

_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>\s*", re.IGNORECASE)
_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>\s*", re.IGNORECASE)
_REMOTE_IMG = re.compile(r"<img\b[^>]*\bsrc=[\"']https?://[^>]*>", re.IGNORECASE)
_REMOTE_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

OFFLINE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
  color:#212529;background:#fff;line-height:1.45;font-size:14px}
.container,.container-fluid{max-width:1200px;margin:0 auto;padding:12px 20px}
.row{display:flex;flex-wrap:wrap;gap:16px}.col-md-2,.col-md-3{flex:0 0 220px}
.col-md-8,.col-md-9,.col-md-10,.col-12{flex:1 1 600px;min-width:0}
table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5}.table-sm td,.table-sm th{padding:2px 6px}
.card{border:1px solid #dee2e6;border-radius:4px;margin:10px 0;padding:8px}
.card-header{font-weight:600;border-bottom:1px solid #dee2e6;margin-bottom:6px}
.text-danger,.fa-times{color:#c92a2a}.text-success,.fa-check-circle{color:#2b8a3e}
.text-info{color:#1971c2}.text-muted{color:#868e96}.badge{border:1px solid #adb5bd;border-radius:3px;padding:0 4px}
.fas.fa-times::before{content:"\\2717"}.fas.fa-check-circle::before{content:"\\2713"}
.fas.fa-comment::before{content:"\\1F5E9"}
.cooltip .top{display:none}.cooltip:hover .top{display:block;position:absolute;background:#222;color:#fff;padding:6px}
.navbar{background:#343a40;color:#fff;padding:8px 20px}.navbar a{color:#fff}
.ge-index-page-site-name-title,footer,.ge-footer-subscribe{display:none}
#passback-run-summary{margin-bottom:24px}
"""


def build_data_docs(
    results: Iterable[tuple[str, Any]],
    directory: Path,
    *,
    run_time: dt.datetime | None = None,
    back_link: str | None = None,
) -> Path:
    """Build Data Docs for ``results`` ((label, GX suite validation result) pairs, e.g.
    ``("district-7 assessments", outcome.validation_result)``) into ``directory``; return the
    path of its ``index.html``.  ``back_link``: a relative link to passback's report of the run,
    shown at the top of the index."""
    gx = _gx.gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    run_time = run_time or dt.datetime.now(dt.UTC)
    context = _gx.quiet_context(gx.get_context(mode="ephemeral"))
    context.variables.data_docs_sites = {
        SITE_NAME: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(directory)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    }

    entries: list[dict[str, Any]] = []
    suites: dict[str, Any] = {}
    used: set[str] = set()
    for label, result in results:
        suite_name = result.suite_name
        run_name = _unique(_slug(label) or suite_name, used)
        batch = _slug((result.meta.get("active_batch_definition") or {}).get("data_asset_name") or suite_name)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=RunIdentifier(run_name=run_name, run_time=run_time),
            batch_identifier=batch,
        )
        stored = readable(result)  # escaped, counted in rows; the caller's result keeps its meta
        stored.meta = {**result.meta, "run_id": key.run_id, "validation_time": run_time}
        context.validation_results_store.set(key, stored)
        suites.setdefault(suite_name, result)
        entries.append(
            {
                "label": label,
                "suite": suite_name,
                "success": bool(result.success),
                "summary": result.meta.get("passback") or {},
                "page": "/".join(["validations", *key.to_tuple()]) + ".html",
            }
        )
    for suite_name, result in suites.items():
        configs = [er.expectation_config for er in result.results]
        context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=configs))

    context.build_data_docs(site_names=[SITE_NAME])
    for page in directory.rglob("*.html"):
        _make_offline(page)
    index = directory / "index.html"
    _add_run_summary(index, entries, sorted(suites), run_time, back_link)
    return index


def _make_offline(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    if OFFLINE_MARK in text:
        return
    text = _REMOTE_LINK.sub("", text)
    text = _REMOTE_SCRIPT.sub("", text)
    text = _REMOTE_IMG.sub("", text)
    text = _REMOTE_URL.sub("none", text)
    style = f'<style id="{OFFLINE_MARK}">{OFFLINE_CSS}</style>\n'
    text = text.replace("</head>", style + "</head>", 1) if "</head>" in text else style + text
    page.write_text(text, encoding="utf-8")


def _add_run_summary(
    index: Path,
    entries: list[dict[str, Any]],
    suite_names: list[str],
    run_time: dt.datetime,
    back_link: str | None = None,
) -> None:
    """A static table of this run's validations (GX's own index table needs JavaScript)."""
    rows = []
    for e in entries:
        summary = e["summary"]
        reasons = ", ".join(f"{html.escape(k)}: {v}" for k, v in (summary.get("rows_by_reason") or {}).items())
        status = (
            '<span class="text-success">passed</span>'
            if e["success"]
            else '<span class="text-danger">rows blocked</span>'
        )
        rows.append(
            f'<tr><td><a href="{html.escape(e["page"])}">{html.escape(e["label"])}</a></td>'
            f'<td><a href="expectations/{html.escape(e["suite"])}.html">{html.escape(e["suite"])}</a></td>'
            f"<td>{status}</td><td>{summary.get('rows', '')}</td><td>{summary.get('combinations', '')}</td>"
            f"<td>{reasons or '-'}</td></tr>"
        )
    suites = ", ".join(f'<a href="expectations/{html.escape(s)}.html">{html.escape(s)}</a>' for s in suite_names)
    section = (
        '<div class="container" id="passback-run-summary">'
        + (
            f'<p><a href="{html.escape(back_link)}">← passback\'s report of this run: every held-back row, '
            "its reason and what to do</a></p>"
            if back_link
            else ""
        )
        + f"<h2>Passback validation run {run_time:%Y-%m-%d %H:%M:%S %Z}</h2>"
        "<p>Each suite ran on the distinct combinations of the columns it reads; "
        "rows counts below are for every source row. Suites (rules): "
        f"{suites}</p>"
        "<table><thead><tr><th>validation</th><th>suite</th><th>result</th><th>rows</th>"
        "<th>combinations</th><th>rows by reason</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )
    text = index.read_text(encoding="utf-8")
    match = re.search(r"<body[^>]*>", text)
    at = match.end() if match else 0
    index.write_text(text[:at] + section + text[at:], encoding="utf-8")


def _slug(text: str) -> str:
    return _UNSAFE.sub("_", str(text)).strip("._")


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}-{n}"
    used.add(candidate)
    return candidate
