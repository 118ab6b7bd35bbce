"""The pinned GX version still has what passback.quality relies on, and stays lazily imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from passback.domain.codes import SCORE_REASONS
from passback.quality import validate_frame
from tests.quality.helpers import PASSING_SCORE, derived_frame

REPO = Path(__file__).resolve().parents[2]


def test_gx_is_the_pinned_version_with_the_private_hash_threshold():
    import great_expectations
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine

    assert great_expectations.__version__ == "1.24.1"
    # passback.quality sets this private attribute to 0 to skip fingerprinting every frame.
    assert hasattr(pandas_engine, "HASH_THRESHOLD")


def test_validation_turns_off_frame_fingerprinting():
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine

    validate_frame(derived_frame([PASSING_SCORE]), "scores", reason_order=SCORE_REASONS)
    assert pandas_engine.HASH_THRESHOLD == 0


def test_importing_the_package_does_not_import_great_expectations():
    code = "import sys, passback.quality; assert 'great_expectations' not in sys.modules, 'GX imported eagerly'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_empty_frame_has_no_outcomes_and_a_result():
    outcome = validate_frame(derived_frame([PASSING_SCORE]).iloc[:0], "scores", reason_order=SCORE_REASONS)
    assert outcome.reasons.empty and outcome.counts == {} and outcome.combinations == 0
    assert outcome.validation_result.success
    assert isinstance(outcome.reasons, pd.Series)


def test_memoized_configurations_give_the_same_validation_results(monkeypatch):
    """passback.quality memoizes GX's Expectation.configuration during a validation (GX rebuilds
    it thousands of times); the results must be exactly those of GX without the memo."""
    import contextlib

    from passback.domain.codes import ASSESSMENT_REASONS
    from passback.quality import _gx
    from tests.quality.helpers import PASSING_ASSESSMENT

    failing = [
        {**PASSING_ASSESSMENT, "title_length": 300},
        {**PASSING_ASSESSMENT, "status": None},  # 3 reasons
        {**PASSING_ASSESSMENT, "category_active": False},
    ]
    frame = derived_frame([PASSING_ASSESSMENT, *failing] * 3)

    def run():
        outcome = validate_frame(frame, "assessments", reason_order=ASSESSMENT_REASONS)
        results = [r.to_json_dict() for r in outcome.validation_result.results]
        return outcome.reasons.tolist(), results

    memo = run()
    assert getattr(_gx.memoized_configurations, "__name__", "") == "memoized_configurations"
    monkeypatch.setattr(_gx, "memoized_configurations", contextlib.nullcontext)
    plain = run()
    assert memo == plain
    assert sum(not pd.isna(r) for r in memo[0]) == 9  # the failing rows failed, the others passed
