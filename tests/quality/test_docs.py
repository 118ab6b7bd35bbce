"""The committed suite JSON works in a fresh GX context; Data Docs are built for a run."""

from __future__ import annotations

import json
import re

import pytest

from passback.domain.codes import ASSESSMENT_REASONS, SCORE_REASONS
from passback.quality import EXPECTATIONS_DIR, build_data_docs, validate_frame
from tests.quality.helpers import PASSING_ASSESSMENT, PASSING_SCORE, derived_frame

CASES = {
    "assessments": (PASSING_ASSESSMENT, {"title_length": 50}),
    "scores": (PASSING_SCORE, {"excluded": True}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_suite_json_validates_in_a_fresh_gx_context(name):
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    data = json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())
    suite = context.suites.add(gx.ExpectationSuite(**data))
    assert len(suite.expectations) == len(data["expectations"])
    batch_definition = (
        context.data_sources.add_pandas("fresh").add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}-check", data=batch_definition, suite=suite)
    )
    passing, failing = CASES[name]
    ok = definition.run(batch_parameters={"dataframe": derived_frame([passing, passing])})
    assert ok.success, [r.expectation_config.type for r in ok.results if not r.success]
    bad = definition.run(batch_parameters={"dataframe": derived_frame([passing, {**passing, **failing}])})
    assert not bad.success


def _outcomes():
    assessments = derived_frame([PASSING_ASSESSMENT, {**PASSING_ASSESSMENT, "title_length": 50}])
    scores = derived_frame([PASSING_SCORE, {**PASSING_SCORE, "excluded": True}, {**PASSING_SCORE, "state": None}])
    return (
        validate_frame(assessments, "assessments", reason_order=ASSESSMENT_REASONS),
        validate_frame(scores, "scores", reason_order=SCORE_REASONS),
    )


def test_data_docs_are_built_for_the_run_and_readable_offline(tmp_path):
    assessments, scores = _outcomes()
    meta_before = dict(scores.validation_result.meta)
    index = build_data_docs(
        [("district-1 assessments", assessments.validation_result), ("district-1 scores", scores.validation_result)],
        tmp_path / "docs",
    )
    assert index == tmp_path / "docs" / "index.html" and index.exists()
    text = index.read_text()
    assert "assessments" in text and "scores" in text
    assert "title_too_long: 1" in text and "score_excluded: 1" in text  # row counts by reason

    summary = text[text.index('id="passback-run-summary"') :]
    links = re.findall(r'href="([^"]+\.html)"', summary.split("</table>")[0])
    assert len(links) >= 4
    for link in links:
        assert (index.parent / link).exists(), link

    pages = list((tmp_path / "docs").rglob("*.html"))
    assert len(pages) == 5  # index, two suites, two validations
    for page in pages:
        html = page.read_text()
        assert not re.search(r"<(link|script)\b[^>]*(href|src)=[\"']https?://", html), page
    suite_page = (tmp_path / "docs" / "expectations" / "assessments.html").read_text()
    assert "title_too_long (error)" in suite_page  # each rule's code and description, from meta
    assert scores.validation_result.meta == meta_before


def test_same_labels_do_not_overwrite_each_other(tmp_path):
    assessments, _ = _outcomes()
    index = build_data_docs([("run", assessments.validation_result), ("run", assessments.validation_result)], tmp_path)
    assert len(list((tmp_path / "validations").rglob("*.html"))) == 2
    assert index.exists()


def test_rebuilding_into_the_same_directory_shows_only_the_new_run(tmp_path):
    import datetime as dt

    assessments, _ = _outcomes()
    first = dt.datetime(2026, 11, 17, 2, 0, tzinfo=dt.UTC)
    build_data_docs([("nightly", assessments.validation_result)], tmp_path, run_time=first)
    index = build_data_docs([("nightly", assessments.validation_result)], tmp_path)
    pages = list((tmp_path / "validations").rglob("*.html"))
    assert len(pages) == 1 and "20261117T020000" not in str(pages[0])
    assert index.read_text().count('id="passback-run-summary"') == 1


def test_rebuilds_reuse_compiled_templates_and_render_the_same_pages(tmp_path, monkeypatch):
    import datetime as dt

    import jinja2

    assessments, scores = _outcomes()
    results = [("d assessments", assessments.validation_result), ("d scores", scores.validation_result)]
    at = dt.datetime(2026, 11, 17, 2, 0, tzinfo=dt.UTC)
    build_data_docs(results, tmp_path / "a", run_time=at)
    compiled = []
    original = jinja2.Environment.compile
    monkeypatch.setattr(
        jinja2.Environment, "compile", lambda env, *a, **kw: compiled.append(a) or original(env, *a, **kw)
    )
    build_data_docs(results, tmp_path / "b", run_time=at)
    assert compiled == []  # every GX view has its own Jinja environment; none compiled a template again

    def pages(root):
        # GX stamps render times and element uuids into pages: compare them without those
        volatile = re.compile(
            r"\d{8}T\d{6}\.\d+Z|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
            r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}[^<\"]*"
        )
        return {p.relative_to(root): volatile.sub("", p.read_text()) for p in root.rglob("*.html")}

    assert pages(tmp_path / "a") == pages(tmp_path / "b")
