"""Pure parts of the report: the meanings table covers every code, retention keeps the larger of
its two windows, SVG and markdown escape what they show, offending values per rule."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pandas as pd
import pytest

from passback.domain.codes import ASSESSMENT_REASONS, SCORE_REASONS
from passback.quality import EXPECTATIONS_DIR
from passback.quality.errors import SuiteLoadError
from passback.quality.meanings import reason_meanings
from passback.report import svg
from passback.report.artifacts import cell, summary_line
from passback.report.index import kept_runs
from passback.report.site import ReportSite
from passback.report.values import assessment_values


def test_every_reason_code_and_every_suite_rule_has_a_meaning_and_someone_to_fix_it() -> None:
    table = reason_meanings()
    for code in (*ASSESSMENT_REASONS, *SCORE_REASONS):
        m = table[code]
        assert m.meaning and m.fix and m.who_text, code
    for suite in ("assessments", "scores"):
        data = json.loads((EXPECTATIONS_DIR / f"{suite}.json").read_text())
        assert {e["meta"]["reason_code"] for e in data["expectations"]} <= set(table)


def test_a_missing_meaning_is_a_load_error_naming_the_code(tmp_path) -> None:
    data = json.loads((EXPECTATIONS_DIR / "reasons.json").read_text())
    del data["reasons"]["title_too_long"]
    path = tmp_path / "reasons.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SuiteLoadError, match="title_too_long: no entry"):
        reason_meanings(path)


def test_retention_keeps_the_last_n_runs_or_the_last_days_whichever_keeps_more() -> None:
    now = dt.datetime(2026, 11, 30, 12)
    runs = [SimpleNamespace(id=str(i), started_at=now - dt.timedelta(days=i)) for i in range(10)]
    site = ReportSite(root=None, keep_runs=3, keep_days=5)  # type: ignore[arg-type]
    assert [r.id for r in kept_runs(site, runs, now)] == ["0", "1", "2", "3", "4", "5"]  # the days keep more
    site = ReportSite(root=None, keep_runs=8, keep_days=2)  # type: ignore[arg-type]
    assert [r.id for r in kept_runs(site, runs, now)] == [str(i) for i in range(8)]  # the count keeps more


def test_svg_and_markdown_escape_what_they_show() -> None:
    chart = svg.lines("held <b>", ["<script>x</script>"], {"<img src=x>": [3.0]})
    assert "<script>" not in chart and "<img" not in chart and "&lt;script&gt;" in chart
    assert cell("a | <b>\nc") == "a \\| &lt;b&gt; c"
    line = summary_line(
        {
            "district": "d1",
            "status": "completed",
            "line_items": {"created": 2},
            "results": {},
            "reasons": {"title_too_long": 1},
            "writes": 2,
            "run_seconds": 1.5,
        }
    )
    assert line == (
        "district d1 sync completed in 1.5 s: lineItems [created 2], results [none]; writes 2; "
        "held back 1 rows (top: title_too_long 1)"
    )


def test_offending_values_say_what_broke_the_rule() -> None:
    a = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "title_length": [57, 3, 3, 3, 3],
            "points_possible": [10, 10.5, 10, 10, 10],
            "assign_date": pd.to_datetime(["2026-11-05"] * 5),
            "due_date": pd.to_datetime(["2026-11-06", "2026-11-06", "2026-11-01", pd.NaT, "2026-11-06"]),
            "assessment_type": ["Quiz", "Quiz", "Quiz", "Quiz", "Journal"],
            "status": ["active"] * 5,
        }
    )
    reasons = pd.Series(
        ["title_too_long", "points_not_whole", "due_before_assign", "missing_dates", "category_unmapped"]
    )
    values = assessment_values(a, reasons, pd.Series([None] * 5, dtype="str"))
    assert list(values) == [
        "title length 57 of at most 49",
        "points possible 10.5",
        "due 2026-11-01 before assign 2026-11-05",
        "due date missing",
        'type "Journal" not mapped',
    ]
