"""The helper process (``passback.sync.helper``): it classifies and writes the report exactly as the
district's own process does; it is used only while several districts run and only for small
districts; when it dies, the work is done in the district's process and the next use gets a new helper."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from passback.report import build
from passback.report.job import ReportJob, Written
from passback.sync import evaluate, helper


@pytest.fixture
def run(demo_sync: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A real run of the demo district (all in this process): its report job and what it classified."""
    seen: dict[str, Any] = {}
    write, classify = ReportJob.write, evaluate.classify

    def recorded_write(self: ReportJob) -> Written:
        seen["job"] = self
        return write(self)

    def recorded_classify(source: Any, context: Any) -> Any:
        seen["inputs"] = (source, context)
        return classify(source, context)

    monkeypatch.setattr(ReportJob, "write", recorded_write)
    monkeypatch.setattr(evaluate, "classify", recorded_classify)
    summary = demo_sync()
    monkeypatch.undo()
    assert summary.status == "completed" and summary.report_page, summary.as_json()
    return seen


@pytest.fixture
def job(run: dict[str, Any]) -> ReportJob:
    return run["job"]


def outcomes(job: ReportJob, page: str) -> list[pd.DataFrame]:
    folder = Path(job.settings.docs_dir) / Path(page).parent
    return [build.read_outcomes(folder, kind) for kind in ("assessment", "score")]


def test_the_helper_classifies_every_row_as_this_process_does(run: dict[str, Any]) -> None:
    source, context = run["inputs"]
    here = evaluate.classify(source, context)
    before = helper.done_by_helper
    there = asyncio.run(helper.run("demo", evaluate.classify, source, context))
    assert helper.done_by_helper == before + 1  # done there, not here after a failure
    for a, b in zip(there[:2], here[:2], strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert there[1]["reason"].notna().any()  # the demo holds scores back: reasons came back
    assert [(label, r.success, r.statistics) for label, r in there[2]] == [
        (label, r.success, r.statistics) for label, r in here[2]
    ]


def test_the_helper_writes_the_report_this_process_writes(job: ReportJob) -> None:
    here = job.write()
    here_rows = outcomes(job, here.page)
    before = helper.done_by_helper
    there = asyncio.run(helper.run("demo", job.write))  # the same run's folder, written again by the helper
    assert helper.done_by_helper == before + 1
    assert there.error is None and there.page == here.page and there.top_held == here.top_held
    assert there.top_held  # the demo holds rows back: the summary's lists came back from the helper
    for a, b in zip(outcomes(job, there.page), here_rows, strict=True):
        pd.testing.assert_frame_equal(a, b)
    folder = Path(job.settings.docs_dir) / Path(there.page).parent
    assert (folder / "gx" / "index.html").exists() and "demo" in (folder / "index.html").read_text()


@dataclass
class DiesInTheHelper(ReportJob):
    parent: int = 0

    def write(self) -> Written:
        if os.getpid() != self.parent:
            os._exit(1)  # the helper process dies (killed, out of memory) while writing
        return super().write()


def test_a_helper_that_dies_or_fails_answers_helper_gone_and_the_next_use_gets_a_new_one(job: ReportJob) -> None:
    dying = DiesInTheHelper(**job.__dict__, parent=os.getpid())
    with pytest.raises(helper.HelperGone, match="terminated abruptly"):
        asyncio.run(helper.run("demo", dying.write))
    with pytest.raises(helper.HelperGone, match="no such stage"):  # the function's own error, from there
        asyncio.run(helper.run("demo", failing, "no such stage"))
    before = helper.done_by_helper
    written = asyncio.run(helper.run("demo", job.write))  # a new helper
    assert written.error is None and written.page and helper.done_by_helper == before + 1


def failing(message: str) -> None:
    raise ValueError(message)


def test_only_small_districts_use_the_helper_and_only_while_several_run(
    job: ReportJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert job.rows >= helper.MIN_ROWS and not helper.wanted(job.rows)  # alone: the helper's start costs more
    with helper.several_at_once():
        assert helper.wanted(job.rows)
        assert not helper.wanted(helper.MIN_ROWS - 1)  # a handful of rows: done here faster than sent there
        monkeypatch.setattr(helper, "MAX_ROWS", job.rows - 1)
        assert not helper.wanted(job.rows)  # a large district's frames are not copied
    assert not helper.wanted(job.rows)
