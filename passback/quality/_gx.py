"""The one place that imports Great Expectations (lazily) and owns the process-wide context.

``import great_expectations`` costs ~150 MB and ~3 s on the CI machine (without
``DEFERRED_MODULES``: ~5 s), so nothing in ``passback.quality`` imports it at module import time:
callers pay for it on the first validation only.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from great_expectations.data_context import AbstractDataContext

DATASOURCE_NAME = "passback"

_lock = threading.RLock()
_context: AbstractDataContext | None = None
_batch_definitions: dict[str, Any] = {}


_tuned = False


def gx() -> Any:
    """The ``great_expectations`` module, imported (and tuned, once per process) on first use."""
    global _tuned
    with _lock, _imports_deferred():
        import great_expectations
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine

    with _lock:
        if not _tuned:
            # Every validation fingerprints the whole frame (md5 of hash_pandas_object) unless the
            # frame is larger than this private threshold; the fingerprint is only batch metadata
            # (PITFALLS.md).  GX is pinned; tests/quality/test_runtime.py fails if it disappears.
            if hasattr(pandas_engine, "HASH_THRESHOLD"):
                pandas_engine.HASH_THRESHOLD = 0
            _share_template_bytecode()
            _memoize_configurations()
            _reuse_metric_graphs()
            _plain_ids()
            _tuned = True
    return great_expectations


class _DeferredModule(types.ModuleType):
    """Stands in for a module while Great Expectations imports: the first attribute read imports
    the real module (by then back in charge of ``sys.modules``) and answers from it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module(self.__name__), name)


# imported by GX at module level only for an expectation and two metrics passback never uses
# (KL divergence and its altair charts, two KS tests): ~2.3 s of GX's ~5 s import on the CI machine
DEFERRED_MODULES = ("scipy.stats", "altair")


@contextmanager
def _imports_deferred() -> Iterator[None]:
    """Import Great Expectations without importing ``DEFERRED_MODULES`` (``python -X importtime``),
    which every process that validates paid for — each flow run a worker starts, each CLI command.

    While GX imports, each is a ``_DeferredModule``; afterwards the stand-ins leave ``sys.modules``,
    so any later import (or a read of an attribute through a stand-in GX kept) imports the real
    module.  GX is pinned; tests/quality/test_runtime.py checks."""
    if "great_expectations" in sys.modules:
        yield
        return
    stand_ins = {name: _DeferredModule(name) for name in DEFERRED_MODULES if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            parent, _, attr = name.rpartition(".")
            if parent in sys.modules and vars(sys.modules[parent]).get(attr) is stand_in:
                delattr(sys.modules[parent], attr)


_memo = threading.local()


def _memoize_configurations() -> None:
    """Validation: GX rebuilds an expectation's ``configuration`` (a pydantic ``dict()`` and a new
    ``ExpectationConfiguration``) for every key it looks up while building the metric graph —
    ~12,000 rebuilds for a 50-expectation suite, half of a small frame's validation time — and
    builds a new ``Expectation`` from that configuration (pydantic validation again) for each of
    the ~12 metrics an expectation depends on.  Inside ``memoized_configurations()`` each
    expectation object builds its configuration once and each configuration its expectation once.
    GX is pinned; tests/quality/test_runtime.py checks results are identical with and without."""
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    build = Expectation.__dict__["configuration"].fget
    Expectation.configuration = property(_memoized(build, "configuration"))  # type: ignore[method-assign,assignment]
    ExpectationConfiguration.to_domain_obj = _memoized(  # type: ignore[method-assign]
        ExpectationConfiguration.to_domain_obj, "domain object"
    )


def _memoized(build: Any, what: str) -> Any:
    """``build(self)``, once per object inside ``memoized_configurations()``, else every time."""

    def once(self: Any) -> Any:
        cache = getattr(_memo, "cache", None)
        if cache is None:
            return build(self)
        found = cache.get((what, id(self)))
        if found is None:  # the object is kept with its value so that its id is not reused
            found = cache[what, id(self)] = (self, build(self))
        return found[1]

    return once


@contextmanager
def memoized_configurations(suite: Any = None) -> Iterator[None]:
    """Within: each expectation object builds its ``configuration``, and each configuration its
    expectation, once (see above); validating ``suite`` reuses its metric graphs (below)."""
    previous = getattr(_memo, "cache", None), getattr(_memo, "suite", None)
    _memo.cache, _memo.suite = {}, suite
    try:
        yield
    finally:
        _memo.cache, _memo.suite = previous


GRAPHS_KEPT = 16  # suites x assets x result formats: passback has two of each kind at most
_graphs: dict[tuple[Any, ...], tuple[Any, Any, list[Any]]] = {}


def _reuse_metric_graphs() -> None:
    """Validation: before computing any metric, GX builds every expectation's metric dependency
    graph (a deep copy of its configuration, the expectation, its validation dependencies and their
    metrics, recursively) — about half of a small frame's validation.  That graph depends on the
    suite, the batch id and the runtime configuration, not on the data: it is built from metric
    providers and kwargs, and metric values live apart, keyed by metric id.  A passback batch id is
    the same for every frame of an asset (``passback-<asset>``), so inside
    ``memoized_configurations(suite)`` a suite's graphs are built by its first validation in the
    process and reused by the next ones.  A build in which an expectation failed is never kept.
    GX is pinned; tests/quality/test_runtime.py compares whole validations with and without."""
    from great_expectations.validator.validator import Validator

    build = Validator._generate_metric_dependency_subgraphs_for_each_expectation_configuration

    def reuse(
        self: Any,
        expectation_configurations: list[Any],
        processed_configurations: list[Any],
        catch_exceptions: bool,
        runtime_configuration: dict[str, Any] | None = None,
    ) -> Any:
        suite = getattr(_memo, "suite", None)
        if suite is None:
            return build(
                self, expectation_configurations, processed_configurations, catch_exceptions, runtime_configuration
            )
        key = (
            id(suite),
            tuple(e.id for e in suite.expectations),
            self.active_batch_id,
            json.dumps(runtime_configuration, sort_keys=True, default=str),
        )
        with _lock:
            found = _graphs.get(key)
        if found is None:
            graphs, failed, processed = build(
                self, expectation_configurations, [], catch_exceptions, runtime_configuration
            )
            if failed:
                return graphs, failed, [*processed_configurations, *processed]
            found = (suite, graphs, processed)  # the suite is kept so that its id is not reused
            with _lock:
                while len(_graphs) >= GRAPHS_KEPT:
                    del _graphs[next(iter(_graphs))]
                _graphs[key] = found
        # a new list: GX removes configurations whose metrics failed from the one it gets
        return found[1], [], [*processed_configurations, *found[2]]

    Validator._generate_metric_dependency_subgraphs_for_each_expectation_configuration = reuse  # type: ignore[method-assign]


_PLAIN = (str, int, bool, type(None))
_DICTS: set[type] = {dict}  # and GX's IDDict (not its other dict subclasses: they convert themselves)


def _plain(value: Any) -> bool:
    """JSON as it is: what GX's ``convert_to_json_serializable`` would return unchanged (up to
    tuples becoming lists, which ``json.dumps`` writes the same way).  NaN is not plain: GX turns
    it into null."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is float:
        return value == value  # NaN is the one float not equal to itself
    if kind in _DICTS:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain(v) for v in value)
    return False


def _plain_ids() -> None:
    """Validation: building the metric graph computes ~2,600 ``IDDict.to_id`` per suite, each
    passing plain keyword arguments (column names, ``None``, small dicts) through
    ``convert_to_json_serializable``, which tries numpy's ``issubdtype`` three times for every
    ``None`` (a third of a small frame's validation).  Plain values are hashed as they are; the
    rest goes through GX's converter.  The id is the same md5 of the same JSON text:
    tests/quality/test_runtime.py compares both on GX's own kwargs and whole validations."""
    from great_expectations.core.id_dict import IDDict
    from great_expectations.util import convert_to_json_serializable as convert

    _DICTS.add(IDDict)

    def to_id(self: Any, id_keys: Any = None, id_ignore_keys: Any = None) -> Any:
        keys = set(self.keys() if id_keys is None else id_keys)
        keys -= set(self._id_ignore_keys if id_ignore_keys is None else id_ignore_keys)
        if not keys:
            return ()
        if len(keys) == 1:
            key = next(iter(keys))
            return f"{key}={self[key]!s}"
        data = {k: self[k] for k in keys}
        if not _plain(data):
            data = convert(data=data)
        return hashlib.md5(json.dumps(data, sort_keys=True).encode("utf-8"), usedforsecurity=False).hexdigest()

    to_id.original = IDDict.to_id  # type: ignore[attr-defined]
    IDDict.to_id = to_id  # type: ignore[method-assign]


def _share_template_bytecode() -> None:
    """Data Docs: every GX view builds its own Jinja environment and so compiles its templates
    again (half of a small district's Data Docs build); share their compiled bytecode.  Jinja
    checks each template's source checksum, so the pages are the same.  GX is pinned;
    tests/quality/test_docs.py fails if a rebuild compiles templates again."""
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

    cache = MemoryBytecodeCache()
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
