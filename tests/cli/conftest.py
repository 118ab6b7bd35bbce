"""CLI fixtures: a factory world in the Otus source DB and the simulator on loopback seeded with its
SIS side (``cli()`` is in tests.toolkit; the child-process ``cli_process`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.toolkit import Sis, running_sis, small_world


@pytest.fixture
def sis(home: Path) -> Iterator[Sis]:
    with running_sis(small_world()) as s:
        yield s
