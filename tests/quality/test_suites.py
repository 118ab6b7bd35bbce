"""Suites load exactly as written, or fail loudly naming the file and the problem."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from passback.domain.codes import ASSESSMENT_REASONS, PENDING_REASONS, SCORE_REASONS
from passback.quality import EXPECTATIONS_DIR, SuiteLoadError, load_suite, referenced_columns
from passback.quality.meanings import meaning_of

APPLIED_AFTER_THE_SUITE = {"assessment_ineligible", "line_item_rejected"}  # docs/DESIGN.md


def _json(name: str) -> dict:
    return json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())


def _write(directory: Path, name: str, data: dict) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("name", ["assessments", "scores"])
def test_suite_loads_every_expectation_of_its_file(name):
    suite = load_suite(name)
    declared = _json(name)["expectations"]
    assert suite.name == name
    assert len(suite.expectations) == len(declared)
    assert [e.expectation_type for e in suite.expectations] == [e["type"] for e in declared]
    for exp in suite.expectations:
        assert exp.meta["rule"].strip()
        notes = "\n".join(exp.notes)  # shown in Data Docs: the code, its meaning, who fixes it, the rule
        assert exp.meta["reason_code"] in notes and exp.meta["rule"] in notes
        assert meaning_of(exp.meta["reason_code"]).meaning in notes and "Who fixes it" in notes


@pytest.mark.parametrize(("name", "codes"), [("assessments", ASSESSMENT_REASONS), ("scores", SCORE_REASONS)])
def test_suite_covers_every_reason_code_in_order(name, codes):
    used = [e["meta"]["reason_code"] for e in _json(name)["expectations"]]
    assert set(used) == set(codes) - APPLIED_AFTER_THE_SUITE
    assert sorted(used, key=codes.index) == used, "expectations are kept in reason order"
    for exp in _json(name)["expectations"]:
        assert (exp["meta"]["severity"] == "pending") == (exp["meta"]["reason_code"] in PENDING_REASONS)


def test_suites_reference_exactly_the_design_columns():
    assert set(referenced_columns(load_suite("scores"))) == {
        "is_duplicate",
        "assessment_known",
        "excluded",
        "student_in_sis",
        "state",
        "past_due",
        "points_valid",
    }
    assert set(referenced_columns(load_suite("assessments"))) == {
        "is_duplicate",
        "status",
        "scoring",
        "points_possible",
        "points_is_whole",
        "title_length",
        "include_in_final_grade",
        "class_in_sis",
        "assigner_in_sis",
        "assigner_in_group",
        "assign_date",
        "due_date",
        "effective_date",
        "assign_gp",
        "due_gp",
        "gp_open",
        "category_id",
        "category_active",
        "has_sendable_score",
    }


def test_loading_is_cached_per_process_and_sees_edits(tmp_path):
    shutil.copy(EXPECTATIONS_DIR / "scores.json", tmp_path / "scores.json")
    first = load_suite("scores", tmp_path)
    assert load_suite("scores", tmp_path) is first
    data = _json("scores")
    data["expectations"] = data["expectations"][:3]
    path = _write(tmp_path, "scores", data)
    os.utime(path, ns=(1, 1))  # a different modification time
    assert len(load_suite("scores", tmp_path).expectations) == 3


def _broken(tmp_path: Path, mutate) -> str:
    data = _json("scores")
    mutate(data)
    _write(tmp_path, "scores", data)
    with pytest.raises(SuiteLoadError) as caught:
        load_suite("scores", tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "scores.json") in message
    return message


def test_unknown_expectation_type_is_not_dropped_silently(tmp_path):
    def mutate(data):
        data["expectations"].append(
            {
                "type": "expect_column_values_to_be_passback_custom",
                "kwargs": {"column": "state"},
                "meta": {"reason_code": "score_invalid", "severity": "error", "rule": "custom"},
            }
        )

    message = _broken(tmp_path, mutate)
    assert "expect_column_values_to_be_passback_custom" in message and "dropped" in message


def test_expectation_without_reason_code_fails_loading(tmp_path):
    message = _broken(tmp_path, lambda d: d["expectations"][0]["meta"].pop("reason_code"))
    assert "reason_code" in message


def test_expectation_without_meta_fails_loading(tmp_path):
    message = _broken(tmp_path, lambda d: d["expectations"][0].pop("meta"))
    assert "no meta" in message


def test_reason_code_of_the_other_suite_fails_loading(tmp_path):
    message = _broken(tmp_path, lambda d: d["expectations"][0]["meta"].update(reason_code="title_too_long"))
    assert "title_too_long" in message


@pytest.mark.parametrize(
    ("severity", "code"), [("pending", "score_excluded"), ("error", "not_yet_due"), ("warn", "score_excluded")]
)
def test_severity_must_match_the_code(tmp_path, severity, code):
    def mutate(data):
        data["expectations"][0]["meta"].update(reason_code=code, severity=severity)

    assert "severity" in _broken(tmp_path, mutate)


def test_missing_rule_description_fails_loading(tmp_path):
    assert "meta.rule" in _broken(tmp_path, lambda d: d["expectations"][0]["meta"].update(rule=" "))


def test_invalid_kwargs_fail_loading(tmp_path):
    message = _broken(tmp_path, lambda d: d["expectations"][1]["kwargs"].pop("value_set"))
    assert "value_set" in message


def test_table_level_expectation_is_refused(tmp_path):
    def mutate(data):
        data["expectations"].append(
            {
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"min_value": 1},
                "meta": {"reason_code": "score_invalid", "severity": "error", "rule": "rows"},
            }
        )

    assert "row-level" in _broken(tmp_path, mutate)


def test_query_string_row_condition_is_refused(tmp_path):
    def mutate(data):
        kwargs = data["expectations"][1]["kwargs"]
        kwargs.update(row_condition='state == "graded"', condition_parser="pandas")

    assert "structured" in _broken(tmp_path, mutate)


def test_suite_name_must_equal_the_file_stem(tmp_path):
    assert "file stem" in _broken(tmp_path, lambda d: d.update(name="other"))


def test_unreadable_files_fail_loading(tmp_path):
    (tmp_path / "scores.json").write_text("{not json")
    with pytest.raises(SuiteLoadError, match="not a readable JSON"):
        load_suite("scores", tmp_path)
    with pytest.raises(SuiteLoadError, match="cannot read"):
        load_suite("absent", tmp_path)


def test_mostly_is_refused(tmp_path):
    assert "mostly" in _broken(tmp_path, lambda d: d["expectations"][1]["kwargs"].update(mostly=0.9))
