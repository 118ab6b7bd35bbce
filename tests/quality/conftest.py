"""Hand-built derived frames (docs/DESIGN.md 'Derived columns') for the quality tests."""

from __future__ import annotations

import pytest

from passback.quality import suites


@pytest.fixture(autouse=True)
def _fresh_suite_cache():
    suites.clear_cache()
    yield
    suites.clear_cache()
