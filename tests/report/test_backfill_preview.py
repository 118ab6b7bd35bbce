"""The backfill preview lists exactly the assessments whose eligibility changes under the new date
(a planted case each way), with the old and new reason and the writes applying it would cause."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pandas as pd

from passback.report.backfill import current_reasons, markdown, preview
from passback.sync.district import DistrictRun, RunOptions
from tests.factory import assessment, score, world
from tests.toolkit import UTC_NOW, register, running_sis


def two_assessments():
    rows = [
        assessment(id="a-early", assign_date=pd.Timestamp("2026-11-02")),
        assessment(id="a-late", title="Later quiz", assign_date=pd.Timestamp("2026-11-05")),
    ]
    scores = [score(assessment_id=a, student_id=s) for a in ("a-early", "a-late") for s in ("u-s1", "u-s2")]
    return world(rows, scores)


def preview_for(new_date: dt.date) -> dict:
    async def go() -> dict:
        run = DistrictRun("d1", RunOptions(dry_run=True, effective_date=new_date, utc_now=UTC_NOW, build_docs=False))
        async with run.client() as client:
            sis = await run.preflight(client)
        source = run.extract()
        evaluation = run.evaluate(source, sis)
        return preview(
            "d1", run.district.effective_date, new_date, current_reasons(run, source, sis), evaluation
        ).as_json()

    return asyncio.run(go())


def test_preview_lists_exactly_the_assessments_whose_eligibility_changes(home: Path) -> None:
    with running_sis(two_assessments()) as sis:
        register("d1", sis.url, effective_date=dt.date(2026, 11, 3))  # a-early is before it, a-late after
        earlier = preview_for(dt.date(2026, 10, 20))
        later = preview_for(dt.date(2026, 11, 6))

    assert [a["assessment_id"] for a in earlier["newly_eligible"]] == ["a-early"]
    assert earlier["newly_held"] == [] and earlier["reason_changed"] == []
    one = earlier["newly_eligible"][0]
    assert (one["old_reason"], one["new_reason"], one["line_item"], one["result_writes"]) == (
        "before_effective_date",
        None,
        "create",
        2,
    )
    assert earlier["totals"]["before_effective_date_now"] == 1 and earlier["totals"]["before_effective_date_after"] == 0
    assert earlier["writes"]["line_items"]["create"] == 2 and earlier["writes"]["results"]["create"] == 4

    assert [a["assessment_id"] for a in later["newly_held"]] == ["a-late"]
    assert later["newly_eligible"] == [] and later["reason_changed"] == []
    held = later["newly_held"][0]
    assert (held["old_reason"], held["new_reason"], held["result_writes"]) == (None, "before_effective_date", 0)
    assert later["totals"]["before_effective_date_now"] == 1 and later["totals"]["before_effective_date_after"] == 2

    text = markdown(earlier)
    assert "**1** assessments become eligible" in text and "| a-early |" in text and "a-late" not in text
