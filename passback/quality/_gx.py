"""The one place that imports Great Expectations (lazily) and owns the process-wide context.

``import great_expectations`` costs ~2.5 s and ~150 MB, so nothing in ``passback.quality``
imports it at module import time: callers pay for it on the first validation only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from great_expectations.data_context import AbstractDataContext

DATASOURCE_NAME = "passback"

_lock = threading.RLock()
_context: AbstractDataContext | None = None
_batch_definitions: dict[str, Any] = {}


def gx() -> Any:
    """The ``great_expectations`` module, imported (and tuned) on first use."""
    import great_expectations
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine

    # Every validation fingerprints the whole frame (md5 of hash_pandas_object) unless the frame
    # is larger than this private threshold; the fingerprint is only batch metadata (PITFALLS.md).
    # GX is pinned; tests/quality/test_runtime.py fails if the attribute disappears.
    if hasattr(pandas_engine, "HASH_THRESHOLD"):
        pandas_engine.HASH_THRESHOLD = 0
    return great_expectations


def quiet_context(context: Any) -> Any:
    """Turn off GX's tqdm progress bars (they write to stderr on every validation)."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def context() -> AbstractDataContext:
    """The process-wide ephemeral GX context (created once, reused by every validation)."""
    global _context
    with _lock:
        if _context is None:
            _context = quiet_context(gx().get_context(mode="ephemeral"))
        return _context


def batch_definition(asset_name: str) -> Any:
    """A whole-dataframe batch definition on the process-wide pandas data source."""
    with _lock:
        found = _batch_definitions.get(asset_name)
        if found is None:
            ctx = context()
            try:
                source = ctx.data_sources.get(DATASOURCE_NAME)
            except Exception:  # noqa: BLE001 - GX raises various errors for "not found"
                source = ctx.data_sources.add_pandas(DATASOURCE_NAME)
            asset = source.add_dataframe_asset(name=asset_name)
            found = asset.add_batch_definition_whole_dataframe(asset_name)
            _batch_definitions[asset_name] = found
        return found


def lock() -> threading.RLock:
    """Serialises use of the shared context (GX contexts are not documented as thread-safe)."""
    return _lock
