"""Great Expectations for passback: load the rule suites, run them on frames, tag rows with
reason codes, build Data Docs.  Importing this package does not import Great Expectations."""

from passback.quality.docs import build_data_docs
from passback.quality.errors import FrameContractError, QualityError, RuleExecutionError, SuiteLoadError
from passback.quality.suites import EXPECTATIONS_DIR, load_suite, referenced_columns
from passback.quality.validate import RuleOutcome, validate_frame

__all__ = [
    "EXPECTATIONS_DIR",
    "FrameContractError",
    "QualityError",
    "RuleExecutionError",
    "RuleOutcome",
    "SuiteLoadError",
    "build_data_docs",
    "load_suite",
    "referenced_columns",
    "validate_frame",
]
