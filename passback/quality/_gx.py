"""The one place that imports Great Expectations (lazily) and owns the process-wide context.

``import great_expectations`` costs ~2.5 s and ~150 MB, so nothing in ``passback.quality``
imports it at module import time: callers pay for it on the first validation only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
    _share_template_bytecode()
    _memoize_configurations()
    return great_expectations


_memo = threading.local()


def _memoize_configurations() -> None:
    """Validation: GX rebuilds an expectation's ``configuration`` (a pydantic ``dict()`` and a new
    ``ExpectationConfiguration``) for every key it looks up while building the metric graph —
    ~12,000 rebuilds for a 50-expectation suite, half of a small frame's validation time.  Inside
    ``memoized_configurations()`` each expectation object builds it once.  GX is pinned;
    tests/quality/test_runtime.py checks results are identical with and without."""
    from great_expectations.expectations.expectation import Expectation

    with _lock:
        prop = Expectation.__dict__["configuration"]
        if getattr(prop.fget, "memoized", False):
            return
        build = prop.fget

        def configuration(self: Any) -> Any:
            cache = getattr(_memo, "cache", None)
            if cache is None:
                return build(self)
            found = cache.get(id(self))
            if found is None:  # the object is kept with its configuration so that its id is not reused
                found = cache[id(self)] = (self, build(self))
            return found[1]

        configuration.memoized = True  # type: ignore[attr-defined]
        Expectation.configuration = property(configuration)  # type: ignore[method-assign,assignment]


@contextmanager
def memoized_configurations() -> Iterator[None]:
    """Within: each expectation object's ``configuration`` is built once (see above)."""
    previous = getattr(_memo, "cache", None)
    _memo.cache = {}
    try:
        yield
    finally:
        _memo.cache = previous


_template_cache: Any = None


def _share_template_bytecode() -> None:
    """Data Docs: every GX view builds its own Jinja environment and so compiles its templates
    again (half of a small district's Data Docs build); share their compiled bytecode.  Jinja
    checks each template's source checksum, so the pages are the same.  GX is pinned;
    tests/quality/test_docs.py fails if a rebuild compiles templates again."""
    global _template_cache
    with _lock:
        if _template_cache is not None:
            return
        from great_expectations.render.view import view
        from jinja2 import BytecodeCache

        class MemoryBytecodeCache(BytecodeCache):  # jinja2 ships only a file-system one
            def __init__(self) -> None:
                self.data: dict[str, bytes] = {}

            def load_bytecode(self, bucket: Any) -> None:
                code = self.data.get(bucket.key)
                if code is not None:
                    bucket.bytecode_from_string(code)

            def dump_bytecode(self, bucket: Any) -> None:
                self.data[bucket.key] = bucket.bytecode_to_string()

        cache = _template_cache = MemoryBytecodeCache()
        original = view.DefaultJinjaView.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self.env.bytecode_cache = cache

        view.DefaultJinjaView.__init__ = __init__  # type: ignore[method-assign]


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
            asset = source.add_dataframe_asset(name=asset_name)  # type: ignore[attr-defined]
            found = asset.add_batch_definition_whole_dataframe(asset_name)
            _batch_definitions[asset_name] = found
        return found


def lock() -> threading.RLock:
    """Serialises use of the shared context (GX contexts are not documented as thread-safe)."""
    return _lock
