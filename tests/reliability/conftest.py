"""Reliability fixtures (the helpers are plain modules: ``_world.py``, ``_districts.py``, ``tests.toolkit``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_api(prefect_harness: None) -> Iterator[None]:
    """A temporary Prefect API (its own SQLite DB), one per session: the flow tests' harness."""
    yield
