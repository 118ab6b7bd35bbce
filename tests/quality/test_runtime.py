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


def test_gx_imports_without_scipy_stats_or_altair_and_an_expectation_that_needs_them_still_works():
    code = """
import sys
import pandas as pd
from passback.quality import _gx
gx = _gx.gx()
assert "scipy.stats" not in sys.modules and "altair" not in sys.modules, "GX's import imported them"
from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
assert kl.stats.entropy([0.5, 0.5], [0.5, 0.5]) == 0.0  # the stand-in answers from the real module
assert type(sys.modules["scipy.stats"]).__name__ == "module"
assert kl.alt.Chart is __import__("altair").Chart
context = gx.get_context(mode="ephemeral")
batch = context.data_sources.add_pandas("p").add_dataframe_asset("a").add_batch_definition_whole_dataframe("b")
frame = pd.DataFrame({"x": ["a", "a", "b", "b"]})
expectation = gx.expectations.ExpectColumnKLDivergenceToBeLessThan(
    column="x", partition_object={"values": ["a", "b"], "weights": [0.5, 0.5]}, threshold=0.1
)
result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(expectation)
assert result.success and result.result["observed_value"] == 0.0, result
"""
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_empty_frame_has_no_outcomes_and_a_result():
    outcome = validate_frame(derived_frame([PASSING_SCORE]).iloc[:0], "scores", reason_order=SCORE_REASONS)
    assert outcome.reasons.empty and outcome.counts == {} and outcome.combinations == 0
    assert outcome.validation_result.success
    assert isinstance(outcome.reasons, pd.Series)


def _failing_assessments() -> pd.DataFrame:
    from tests.quality.helpers import PASSING_ASSESSMENT

    failing = [
        {**PASSING_ASSESSMENT, "title_length": 300},
        {**PASSING_ASSESSMENT, "status": None},  # 3 reasons
        {**PASSING_ASSESSMENT, "category_active": False},
    ]
    return derived_frame([PASSING_ASSESSMENT, *failing] * 3)


def test_memoized_configurations_give_the_same_validation_results(monkeypatch):
    """passback.quality memoizes GX's Expectation.configuration and the expectation built from it
    during a validation (GX rebuilds them thousands of times), reuses a suite's metric graphs from
    its earlier validation of another frame, and hashes plain metric kwargs without GX's converter;
    the results must be exactly those of GX without these."""
    import contextlib

    from great_expectations.core.id_dict import IDDict

    from passback.domain.codes import ASSESSMENT_REASONS
    from passback.quality import _gx
    from tests.quality.helpers import PASSING_ASSESSMENT

    frame = _failing_assessments()

    def run():
        outcome = validate_frame(frame, "assessments", reason_order=ASSESSMENT_REASONS)
        results = [r.to_json_dict() for r in outcome.validation_result.results]
        return outcome.reasons.tolist(), results

    validate_frame(derived_frame([PASSING_ASSESSMENT]), "assessments", reason_order=ASSESSMENT_REASONS)
    graphs = {id(found[1]) for found in _gx._graphs.values()}
    memo = run()
    assert graphs and {id(found[1]) for found in _gx._graphs.values()} == graphs  # reused, none built
    assert getattr(_gx.memoized_configurations, "__name__", "") == "memoized_configurations"
    monkeypatch.setattr(_gx, "memoized_configurations", contextlib.nullcontext)
    monkeypatch.setattr(IDDict, "to_id", IDDict.to_id.original)
    plain = run()
    assert memo == plain
    assert sum(not pd.isna(r) for r in memo[0]) == 9  # the failing rows failed, the others passed


def test_plain_metric_ids_are_gx_own_ids(monkeypatch):
    """Every metric id computed while validating both suites equals the id GX's own ``to_id``
    gives (the graph deduplicates metrics by these ids), including ids of non-plain kwargs."""
    import math

    from great_expectations.core.id_dict import IDDict

    from passback.domain.codes import ASSESSMENT_REASONS
    from passback.quality import _gx

    _gx.gx()  # tunes GX on first use
    fast = IDDict.to_id
    assert fast.original is not fast
    seen: list[tuple[object, object]] = []

    def both(self, id_keys=None, id_ignore_keys=None):
        pair = (fast(self, id_keys, id_ignore_keys), fast.original(self, id_keys, id_ignore_keys))
        seen.append(pair)
        return pair[0]

    monkeypatch.setattr(IDDict, "to_id", both)
    validate_frame(_failing_assessments(), "assessments", reason_order=ASSESSMENT_REASONS)
    validate_frame(derived_frame([PASSING_SCORE]), "scores", reason_order=SCORE_REASONS)
    odd = IDDict(a=float("nan"), b=(1, "x", None), c={"d": math.inf, "e": [True]}, f=pd.Timestamp("2026-11-30"))
    seen.append((fast(odd), fast.original(odd)))
    assert len(seen) > 1000 and all(mine == theirs for mine, theirs in seen)
