"""What Data Docs render, made readable and safe: a copy of each validation result where

- every text value from the data is HTML-escaped (GX puts unexpected values into pages as raw HTML:
  an Otus title or state holding ``<script>`` would run in the data team's browser);
- counts are in source rows, not in the distinct combinations that were validated ("12 of 1,205
  rows", not "1 of 13"), and the unexpected values are listed with their row counts instead of
  combination positions ("Index 31" means nothing to a reader);
- an expectation GX has no sentence for gets a plain description.
The caller's result is never changed.
"""

from __future__ import annotations

import copy
import html
from collections import Counter
from typing import Any

import numpy as np

DROPPED = (
    "unexpected_index_list",
    "partial_unexpected_index_list",
    "unexpected_index_query",
    "unexpected_list",
    "unexpected_index_column_names",
)
TOP_VALUES = 20


def escape_tree(value: Any) -> Any:
    """Every string inside ``value`` (dicts, lists, tuples) HTML-escaped."""
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {escape_tree(k) if isinstance(k, str) else k: escape_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(escape_tree(v) for v in value)
    return value


def _key(value: Any) -> Any:
    """A pair's values as one readable text: "(turned_in, False)"."""
    return f"({', '.join(str(v) for v in value)})" if isinstance(value, (list, tuple)) else value


def _in_rows(result: dict[str, Any], rows: np.ndarray | None, total: int | None) -> dict[str, Any]:
    out = dict(result)
    failing = result.get("unexpected_index_list")
    if rows is not None and total is not None and failing is not None:
        idx = np.asarray([int(i) for i in failing], dtype=np.intp)
        out["element_count"] = total
        out["unexpected_count"] = int(rows[idx].sum()) if len(idx) else 0
        out["unexpected_percent"] = out["unexpected_percent_total"] = (
            100.0 * out["unexpected_count"] / total if total else 0.0
        )
        out["unexpected_percent_nonmissing"] = out["unexpected_percent"]
        values = result.get("unexpected_list")
        if values is not None and len(values) == len(idx):
            by_value: Counter[Any] = Counter()
            for v, n in zip(values, rows[idx], strict=True):
                by_value[_key(v)] += int(n)
            top = by_value.most_common(TOP_VALUES)
            out["partial_unexpected_counts"] = [{"value": v, "count": n} for v, n in top]
            out["partial_unexpected_list"] = [v for v, _ in top]
    for key in DROPPED:
        out.pop(key, None)
    return out


def _description(config: Any) -> str | None:
    if config.type == "expect_column_pair_values_to_be_in_set":
        kw = config.kwargs
        pairs = ", ".join(f"({a}, {b})" for a, b in kw.get("value_pairs_set") or ())
        return f"The pair ({kw.get('column_A')}, {kw.get('column_B')}) must be one of: {pairs}."
    return None


def readable(result: Any) -> Any:
    """A copy of a suite validation result to render (see the module docstring)."""
    rows = getattr(result, "passback_rows", None)
    total = (result.meta.get("passback") or {}).get("rows")
    stored = copy.copy(result)
    stored.results = []
    for er in result.results:
        one = copy.copy(er)
        one.result = escape_tree(_in_rows(er.result or {}, rows, total))
        description = _description(er.expectation_config)
        if description and not er.expectation_config.description:
            config = copy.deepcopy(er.expectation_config)
            config.description = description
            one.expectation_config = config
        stored.results.append(one)
    if total is not None and rows is not None:
        stats = dict(result.statistics or {})
        stored.statistics = stats
    return stored
