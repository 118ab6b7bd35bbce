"""The run report from real runs against the simulator: every held-back row under its reason with
the offending value, what changed since the previous run, one folder per run kept by retention,
a page for a failed run, artifacts without student data, and a complete export."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from passback.domain.codes import ASSESSMENT_REASONS
from passback.report.artifacts import summary_markdown
from passback.settings import get_settings, reset_settings
from passback.store.db import get_engine
from passback.sync.district import RunOptions, sync_district
from tests.factory import assessment, score, world
from tests.toolkit import UTC_NOW, cli, register, rewrite_source, running_sis

LONG = "An assessment title of exactly fifty-seven characters ok!"


def planted() -> Any:
    """One assessment per rule below (and a clean one); scores with score-level reasons."""
    rows = [
        assessment(id="a-ok"),
        assessment(id="a-long", title=LONG),
        assessment(id="a-pts", points_possible=10.5),
        assessment(id="a-dates", assign_date=pd.Timestamp("2026-11-05"), due_date=pd.Timestamp("2026-11-01")),
        assessment(id="a-journal", assessment_type="Journal"),
        assessment(id="a-group", assigned_by="u-t2"),
    ]
    scores = [
        score(assessment_id=a, student_id=s, points_earned=7.0)
        for a, _ in ((r["id"], 0) for r in rows)
        for s in ("u-s1", "u-s2")
    ]
    scores += [score(assessment_id="a-ok", student_id="u-s3")]  # no Skyward id
    scores[0]["excluded"] = True  # a-ok / u-s1
    return world(rows, scores, group=["u-t1"])


def register_without_journal(url: str, **overrides: Any) -> None:
    """d1 registered, with the Journal type left unmapped."""
    from sqlmodel import delete

    from passback.store.db import session
    from passback.store.models import CategoryMapping

    register("d1", url, **overrides)
    with session(get_engine(get_settings().state_db_url)) as s:
        s.exec(
            delete(CategoryMapping).where(CategoryMapping.district_id == "d1", CategoryMapping.otus_type == "Journal")
        )


def run_sync(**options: Any) -> Any:
    """A library district run with its report (the e2e helper builds none)."""
    return asyncio.run(sync_district("d1", RunOptions(utc_now=UTC_NOW, **options)))


def page_of(summary: Any) -> str:
    assert summary.data_docs and Path(summary.data_docs).exists(), summary.data_docs
    return Path(summary.data_docs).read_text()


def section(html: str, code: str) -> str:
    start = html.index(f'<section id="{code}"')
    return html[start : html.index("</section>", start)]


def test_each_reason_lists_its_assessments_with_the_offending_value_and_what_changed(home: Path) -> None:
    w = planted()
    with running_sis(w) as sis:
        register_without_journal(sis.url)
        first = run_sync(build_docs=True)
        assert first.status == "completed", first.error
        html = page_of(first)
        expected = {
            "title_too_long": ("a-long", "title length 57 of at most 49", "Shorten the assessment name"),
            "points_not_whole": ("a-pts", "points possible 10.5", "whole number"),
            "due_before_assign": ("a-dates", "due 2026-11-01 before assign 2026-11-05", "due date is before"),
            "category_unmapped": ("a-journal", "type &#34;Journal&#34; not mapped", "passback mapping set"),
            "assigner_not_in_group": (
                "a-group",
                "assigned by &#34;u-t2&#34;, not in the passback group",
                "Teacher Group",
            ),
        }
        rule_order = [c for c in ASSESSMENT_REASONS if c in expected]
        positions = [html.index(f'<section id="{code}"') for code in rule_order]
        assert positions == sorted(positions)  # in rule order
        for code, (aid, value, words) in expected.items():
            part = section(html, code)
            assert f'data-assessment="{aid}"' in part and value in part and words in part, code
            assert re.search(r'class="n">2</td></tr>', part), code  # the two scores it holds back
        excluded = section(html, "score_excluded")
        assert (
            'data-assessment="a-ok"' in excluded
            and "u-s1" in excluded
            and "sky-s1" in excluded
            and "Sam One" in excluded
        )
        assert "u-s3" in section(html, "student_not_in_sis")
        assert "No earlier run with a report" in html

        w.assessments.loc[w.assessments["id"] == "a-long", "title"] = "Short now"
        w.assessments.loc[w.assessments["id"] == "a-ok", "status"] = "deleted"
        rewrite_source(w)
        second = run_sync(build_docs=True)
        html2 = page_of(second)
        changes = html2[html2.index('id="changes"') : html2.index('id="reasons"')]
        assert "<b>1</b> assessments newly held back, <b>1</b> newly passing" in changes
        held = changes[changes.index("Newly held back") : changes.index("Newly passing")]
        assert "a-ok" in held and "assessment_deleted" in held and "a-long" not in held
        assert "a-long" in changes[changes.index("Newly passing") :] and "title_too_long" in changes
        assert Path(first.data_docs).exists() and first.data_docs != second.data_docs  # each run keeps its own

        index = (Path(second.data_docs).parents[2] / "index.html").read_text()
        assert index.count('<tr class="run"') == 2 and index.count("<svg") == 2

    out = home / "first.csv"
    assert cli("export", "d1", "--run", first.run_id[:8], "--out", str(out)).code == 0  # an earlier run's outcomes
    earlier = pd.read_csv(out, dtype=str, keep_default_na=False)
    long_rows = earlier[earlier["assessment_id"] == "a-long"]
    assert long_rows.groupby("kind")["reason"].agg(set).to_dict() == {
        "assessment": {"title_too_long"},
        "score": {"assessment_ineligible"},
    }
    assert cli("export", "d1", "--out", str(out)).code == 0  # default: the latest run
    latest = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert latest.loc[latest["assessment_id"] == "a-long", "reason"].tolist() == ["", "", ""]  # now it passes


def test_dry_runs_keep_their_own_report_retention_prunes_old_runs_and_a_failed_run_gets_a_page(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSBACK_REPORT_KEEP_RUNS", "2")
    monkeypatch.setenv("PASSBACK_REPORT_KEEP_DAYS", "0")
    reset_settings()
    with running_sis(planted()) as sis:
        register_without_journal(sis.url)
        sync = run_sync(build_docs=True)
        dry = run_sync(build_docs=True, dry_run=True)
        assert Path(sync.data_docs).exists() and Path(dry.data_docs).exists() and sync.data_docs != dry.data_docs
        sis.admin("POST", "tenants/d1/clients/otus-d1/revoke")
        failed = run_sync(build_docs=True)
    assert failed.status == "failed"
    page = page_of(failed)
    assert "What to do" in page and "passback doctor d1" in page and "rotate" in page
    runs_dir = Path(failed.data_docs).parents[1]
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted(
        [Path(dry.data_docs).parent.name, Path(failed.data_docs).parent.name]
    )
    index = (runs_dir.parent / "index.html").read_text()
    assert index.count('<tr class="run"') == 2 and "dry run" in index and "error and what to do" in index
    assert not list(runs_dir.rglob("*")) or all(
        any(p.iterdir()) for p in runs_dir.rglob("*") if p.is_dir()
    )  # no empty folders


def test_the_artifact_lists_every_reason_with_its_meaning_and_no_student_data(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_sis(planted()) as sis:
        register_without_journal(sis.url)
        local = run_sync(build_docs=True)
        text = summary_markdown(local.as_json())
        assert str(home) not in text and "PASSBACK_REPORT_BASE_URL" in text  # never a worker's path
        monkeypatch.setenv("PASSBACK_REPORT_BASE_URL", "https://reports.example/passback/")
        reset_settings()
        linked = run_sync(build_docs=True)
    assert linked.data_docs.startswith("https://reports.example/passback/d1/runs/")
    text = summary_markdown(linked.as_json())
    table = text[text.index("## Held back") : text.index("## Top held-back")]
    for kind, reasons in linked.reasons_by_kind.items():
        for code, n in reasons.items():
            assert re.search(rf"\| `{code}` \| {kind}s \| {n} \|", table), code
    assert "too long for Skyward" in table and "title length 57 of at most 49" in text and "Ada Teach" in text
    for student in ("u-s1", "u-s2", "u-s3", "sky-s1", "Sam", "Sue", "Otto"):
        assert student not in text
    assert f"]({linked.data_docs})" in text


def test_export_has_every_row_once_with_the_outcomes_of_the_summary_and_of_explain(home: Path, tmp_path: Path) -> None:
    w = planted()
    with running_sis(w) as sis:
        register_without_journal(sis.url)
        summary = run_sync(build_docs=True)
        explained = {a: json.loads(cli("explain", "d1", a, "--json").out) for a in w.assessments["id"]}
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"rows.{fmt}"
        ran = cli("export", "d1", "--format", fmt, "--out", str(out))
        assert ran.code == 0, ran.err
        frame = pd.read_csv(out, keep_default_na=False, dtype=str) if fmt == "csv" else pd.read_parquet(out)
        assert list(frame.columns)[:7] == [
            "kind",
            "assessment_id",
            "student_id",
            "outcome",
            "reason",
            "meaning",
            "value",
        ]
        rows = [
            {k: None if v is None or v == "" or (isinstance(v, float) and v != v) else v for k, v in r.items()}
            for r in frame.astype(object).to_dict("records")
        ]  # CSV writes "" for null
        a = [r for r in rows if r["kind"] == "assessment"]
        s = [r for r in rows if r["kind"] == "score"]
        assert sorted(r["assessment_id"] for r in a) == sorted(w.assessments["id"]) and {
            r["student_id"] for r in a
        } == {None}
        assert sorted((r["assessment_id"], r["student_id"]) for r in s) == sorted(
            zip(w.scores["assessment_id"], w.scores["student_id"])
        )
        for part, key in ((a, "line_items"), (s, "results")):
            counts = pd.Series([r["outcome"] for r in part]).value_counts().to_dict()
            assert counts == {k: v for k, v in getattr(summary, key).items() if v}, key
        for row in a:
            assert row["reason"] == explained[row["assessment_id"]]["reason"]
        long_row = next(r for r in a if r["assessment_id"] == "a-long")
        assert long_row["value"] == "title length 57 of at most 49" and "too long" in long_row["meaning"]
        for row in s:
            scores = {x["student_id"]: x for x in explained[row["assessment_id"]]["scores"]}
            assert scores[row["student_id"]]["reason"] == row["reason"]
    ex = explained["a-long"]
    assert ex["value"] == "title length 57 of at most 49" and "too long" in ex["meaning"] and "teacher" in ex["fix"]
    assert {x["student_sis_id"] for x in explained["a-ok"]["scores"]} == {"sky-s1", "sky-s2", None}

    bad = cli("export", "d1", "--run", "nope", "--out", str(tmp_path / "x.csv"))
    assert bad.code != 0 and "passback runs d1" in bad.err


def _files(gx: Path) -> dict[str, int]:
    return {str(p.relative_to(gx)): p.stat().st_size for p in gx.rglob("*") if p.is_file()}


def test_a_second_identical_run_reuses_the_data_docs_and_its_link_opens_its_validations(home: Path) -> None:
    import shutil

    from passback.report.docs_reuse import DIGEST_FILE

    w = planted()
    with running_sis(w) as sis:
        register_without_journal(sis.url)
        first = run_sync(build_docs=True)
        second = run_sync(build_docs=True)  # nothing changed in Otus or in the SIS
        assert first.status == second.status == "completed" and second.writes == 0
        gx1, gx2 = (Path(s.data_docs).parent / "gx" for s in (first, second))
        # GX names each validation page after its build time: the same files mean the same build
        assert _files(gx2) == _files(gx1) and (gx2 / DIGEST_FILE).read_text() == (gx1 / DIGEST_FILE).read_text()
        html2 = page_of(second)
        assert 'href="gx/index.html"' in html2 and Path(first.data_docs).parent.name in html2
        assert "<b>0</b> assessments newly held back, <b>0</b> newly passing" in html2

        shutil.rmtree(Path(first.data_docs).parent)  # retention prunes the run that built them
        index = (gx2 / "index.html").read_text()
        assert "title_too_long: 1" in index  # this run's validations, as the report says
        pages = re.findall(r'href="(validations/[^"]+\.html)"', index)
        assert len(pages) == 2 and all((gx2 / p).is_file() for p in pages)
        scores_page = next(p for p in pages if "scores" in p)
        words = " ".join(re.sub(r"<[^>]+>", " ", (gx2 / scores_page).read_text()).split())
        assert "Expectation Suite: scores" in words and "Unsuccessful Expectations 2" in words  # excluded, no SIS id

        w.assessments.loc[w.assessments["id"] == "a-long", "title"] = "Short now"
        rewrite_source(w)
        third = run_sync(build_docs=True)  # the results changed: a build of its own
        gx3 = Path(third.data_docs).parent / "gx"
        assert set(_files(gx3)).isdisjoint(p for p in _files(gx2) if p.startswith("validations/"))
        assert (
            "title_too_long"
            not in (gx3 / "index.html").read_text().split("passback-run-summary")[1].split("</table>")[0]
        )
        assert (gx3 / DIGEST_FILE).read_text() != (gx2 / DIGEST_FILE).read_text()
        assert Path(first.data_docs).parent.name not in page_of(third).split("Data Docs of this run")[1][:200]
