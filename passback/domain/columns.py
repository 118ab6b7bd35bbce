"""Column kernels for millions of rows: lookups, keys and labels through Arrow, never Python objects.

A text column (pandas ``str``, Arrow-backed) is looked up, encoded and rebuilt in Arrow's C++
kernels; a Python string per row would cost ~60 bytes and a dict probe each (L: 4.8M scores, 3.7M
ledger rows).  Semantics are pandas' ones: NA matches NA (like ``Index.get_indexer``), the first of
duplicated keys wins.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.large_string()  # the storage of pandas' "str" dtype

if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    # glibc's malloc hands large freed buffers straight back to the system (and malloc_trim the rest);
    # mimalloc keeps them: L's peak RSS is ~110 MB lower with the system pool, CPU the same.
    pa.set_memory_pool(pa.system_memory_pool())


def arrow_text(values: pd.Series | pd.Index | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The values as Arrow large_string (zero-copy for an Arrow-backed ``str`` column; chunks are kept)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        arr = values
    else:
        data = values.array if isinstance(values, pd.Series | pd.Index) else values
        if isinstance(data.dtype, pd.CategoricalDtype):  # the distinct values once, then taken by code
            cats = arrow_text(pd.Index(data.categories))
            taken = one_array(cats).take(pa.array(data.codes, mask=data.codes < 0))
            return taken
        if not (isinstance(data.dtype, pd.StringDtype) and data.dtype.storage == "pyarrow"):
            data = pd.array(np.asarray(data, dtype=object), dtype="str") if len(data) else pd.array([], dtype="str")
        arr = pa.chunked_array(data.__arrow_array__())
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr
    if arr.type != TEXT:
        arr = arr.cast(TEXT)
    return arr


def one_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def text_series(arr: pa.Array | pa.ChunkedArray, index: pd.Index | None = None) -> pd.Series:
    """A pandas ``str`` Series over an Arrow text array (no copy)."""
    if arr.type != TEXT:
        arr = arr.cast(TEXT)
    return pd.Series(pd.array(arr, dtype="str"), index=index, copy=False)


def positions(keys: pd.Series | pa.Array, table: pd.Series | pd.Index | pa.Array) -> np.ndarray:
    """For each key, the position of its first occurrence in ``table`` (-1 when absent); NA matches NA."""
    values = arrow_text(keys)
    table_arr = one_array(arrow_text(table))
    if len(table_arr) == 0 or len(values) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    found = pc.index_in(values, value_set=table_arr)  # the value set's first occurrence wins
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def is_in(
    values: pd.Series | pd.Index | pa.Array, table: pd.Series | pd.Index | pa.Array | Sequence[str]
) -> np.ndarray:
    """``values.isin(table)`` for text, in Arrow's kernel (NA matches NA).  pandas' own ``isin`` on a
    ``str`` column makes a Python scalar of every value of ``table``: ~20 µs each, seconds for 160k."""
    if not isinstance(table, pd.Series | pd.Index | pa.Array | pa.ChunkedArray):
        table = pd.Index(list(table), dtype="str")
    value_set = one_array(arrow_text(table))
    if len(values) == 0 or len(value_set) == 0:
        return np.zeros(len(values), dtype=bool)
    return pc.is_in(arrow_text(values), value_set=value_set).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def take_text(values: pd.Series | pa.Array, pos: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """``values[pos]`` as a ``str`` Series, NA where ``pos`` is -1."""
    arr = arrow_text(values)
    idx = pa.array(pos, mask=pos < 0, type=pa.int64()) if len(arr) else pa.nulls(len(pos), pa.int64())
    taken = arr.take(idx) if len(arr) else pa.nulls(len(pos), TEXT)
    return text_series(taken, index)


def labels(codes: np.ndarray, names: Sequence[str], index: pd.Index | None = None) -> pd.Series:
    """A ``str`` Series of ``names[code]`` (NA where ``code`` is out of range), built in Arrow."""
    codes = np.asarray(codes)
    missing = (codes < 0) | (codes >= len(names))
    idx = pa.array(np.where(missing, 0, codes).astype(np.int32), mask=missing, type=pa.int32())
    dictionary = pa.DictionaryArray.from_arrays(
        idx, pa.array(list(names), type=TEXT) if len(names) else pa.nulls(0, TEXT)
    )
    return text_series(dictionary.cast(TEXT), index)


def codes(values: pd.Series | pa.Array, *, na: str | None = None) -> tuple[np.ndarray, pa.Array]:
    """Dense int64 codes of a text column in order of first appearance, and the distinct values.
    NA gets a code of its own (``na`` is None) or is the text ``na``."""
    arr = arrow_text(values)
    if na is not None:
        arr = arr.fill_null(na)
    distinct = one_array(pc.unique(arr))  # in order of first appearance, NA included
    found = pc.index_in(arr, value_set=distinct)  # NA matches NA: every value is found
    return found.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), distinct


def categorical_text(values: pd.Series | pa.Array, *, na: str = "") -> pd.Categorical:
    """The text as a pandas Categorical over its distinct values (NA -> ``na``): hashes like the text."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat = values.array if isinstance(values, pd.Series) else values
        if cat.isna().any():
            cat = (cat if na in cat.categories else cat.add_categories([na])).fillna(na)
        return cat
    codes_, dictionary = codes(values, na=na)
    return pd.Categorical.from_codes(codes_, categories=pd.Index(text_series(dictionary)))


def categorical_take(values: pd.Series, pos: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """``values[pos]`` as a categorical Series over the distinct text of ``values`` (NA where ``pos``
    is -1 or the value is NA): a code per row instead of a string per row."""
    value_codes, distinct = codes(values)
    keep = pc.is_valid(distinct).to_numpy(zero_copy_only=False)
    remap = np.where(keep, np.cumsum(keep) - 1, -1)  # NA is no category
    row_codes = np.where(pos >= 0, remap[value_codes][np.clip(pos, 0, None)] if len(value_codes) else -1, -1)
    categories = pd.Index(text_series(distinct.filter(pa.array(keep))))
    return pd.Series(pd.Categorical.from_codes(row_codes, categories=categories), index=index, copy=False)


def categorical_labels(label_codes: np.ndarray, names: Sequence[str], index: pd.Index | None = None) -> pd.Series:
    """``names[code]`` as a categorical Series (NA where the code is out of range)."""
    label_codes = np.asarray(label_codes)
    label_codes = np.where((label_codes < 0) | (label_codes >= len(names)), -1, label_codes)
    return pd.Series(
        pd.Categorical.from_codes(label_codes, categories=pd.Index(list(names), dtype="str")), index=index, copy=False
    )


def pair_keys(first: np.ndarray, second: np.ndarray, second_size: int) -> np.ndarray:
    """One int64 per (first, second) code pair (codes are >= 0)."""
    keys = first.astype(np.int64)  # in place from here: one array of millions, not three
    keys *= np.int64(second_size + 1)
    keys += second
    return keys


def later_duplicates(keys: np.ndarray) -> np.ndarray:
    """True for each key seen at an earlier position (``duplicated(keep="first")``), by a stable sort:
    ~3x faster than a hash table for millions of int64 keys, and lighter."""
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    out = np.zeros(len(keys), dtype=bool)
    out[order[1:][ranked[1:] == ranked[:-1]]] = True
    return out


def release_memory() -> None:
    """Hand the memory of freed frames back to the system (glibc keeps freed heap pages, Arrow's pool
    keeps freed blocks; after a stage that freed hundreds of MB both matter for the peak RSS)."""
    pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
