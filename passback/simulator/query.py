"""OneRoster 1.1 collection queries -> SQL: ``filter``, ``sort``/``orderBy``, ``fields``, ``limit``/``offset``.

Filters are translated to SQL over the stored JSON (``json_extract``), so every collection —
including the 5M-row ``/results`` — is filtered, sorted, counted and paginated in SQLite.
Grammar: ``field OP 'value'`` predicates (OP one of ``= != > >= < <= ~``; ``~`` = contains, case
insensitive) joined by ``AND`` / ``OR`` (AND binds tighter).  A reference field compares its
``sourcedId`` (``class='c1'`` or ``class.sourcedId='c1'``); a list of references matches when any
element does (``!=``: when none does); ``metadata.<key>`` reads an extension key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from passback.simulator.errors import ApiError, bad_request
from passback.simulator.schema import FIELDS, FieldType

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_PRED = re.compile(
    r"""\s*(?P<field>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>>=|<=|!=|=|>|<|~)\s*"""
    r"""(?:'(?P<sq>(?:[^']|'')*)'|"(?P<dq>(?:[^"]|"")*)")\s*"""
)
_JOIN = re.compile(r"(AND|OR)\s+", re.IGNORECASE)
_OPS = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}

# fields mirrored in an indexed column of their table: = and != use the column (a 5M-row /results
# filtered by lineItem answers from the index instead of scanning JSON)
_INDEXED: dict[str, dict[str, str]] = {
    "result": {"lineItem": "line_item_id", "lineItem.sourcedId": "line_item_id"},
    "lineItem": {"class": "class_id", "class.sourcedId": "class_id"},
    "enrollment": {
        "class": "class_id",
        "class.sourcedId": "class_id",
        "user": "user_id",
        "user.sourcedId": "user_id",
        "role": "role",
    },
    "user": {"role": "k1"},
    "academicSession": {"type": "k1", "parent": "k2", "parent.sourcedId": "k2"},
}


def _filter_error(message: str) -> ApiError:
    return bad_request("invalid_filter_field", "oneroster.invalid_filter_field", message)


def _json_path(parts: list[str]) -> str:
    return "$" + "".join(f'."{p}"' for p in parts)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a (possibly dotted) field lives in the stored JSON."""

    ftype: FieldType
    path: str  # JSON path of the scalar, or of the list for refs/strs
    item_path: str | None = None  # inside each list element (refs)


def resolve(kind: str, name: str, error: ApiError) -> Target:
    head, _, rest = name.partition(".")
    spec = FIELDS[kind]
    if head not in spec or (rest and spec[head] in ("str", "num", "bool", "strs")) or rest.endswith("."):
        raise error
    ftype = spec[head]
    if ftype == "obj":
        return Target(ftype, _json_path([head, rest]) if rest else _json_path([head]))
    if ftype == "ref":
        return Target(ftype, _json_path([head, *(rest.split(".") if rest else ["sourcedId"])]))
    if ftype == "refs":
        return Target(ftype, _json_path([head]), _json_path(rest.split(".") if rest else ["sourcedId"]))
    return Target(ftype, _json_path([head]))


def _value(target: Target, field_name: str, raw: str) -> Any:
    if target.ftype == "num":
        try:
            return float(raw)
        except ValueError:
            raise _filter_error(f"field {field_name!r} is a number: {raw!r} is not") from None
    if target.ftype == "bool" or (target.ftype == "obj" and raw.lower() in ("true", "false")):
        if raw.lower() not in ("true", "false"):
            raise _filter_error(f"field {field_name!r} is true or false: {raw!r} is neither")
        return 1 if raw.lower() == "true" else 0
    return raw


def _predicate(kind: str, field_name: str, op: str, raw: str) -> tuple[str, list[Any]]:
    target = resolve(
        kind, field_name, _filter_error(f"unknown field {field_name!r} for {kind} (known: {', '.join(FIELDS[kind])})")
    )
    value = _value(target, field_name, raw)
    column = "sid" if field_name == "sourcedId" else _INDEXED.get(kind, {}).get(field_name)
    if column is not None and op in ("=", "!="):
        return (f"{column} = ?", [value]) if op == "=" else (f"({column} IS NULL OR {column} != ?)", [value])
    if target.ftype in ("refs", "strs"):
        inner = "json_extract(j.value, ?)" if target.item_path else "j.value"
        inner_params: list[Any] = [target.item_path] if target.item_path else []
        if op == "~":
            cond = f"instr(lower(CAST({inner} AS TEXT)), lower(?)) > 0"
        else:
            cond = f"{inner} {'=' if op == '!=' else _OPS[op]} ?"
        sql = f"{'NOT ' if op == '!=' else ''}EXISTS (SELECT 1 FROM json_each(data, ?) AS j WHERE {cond})"
        return sql, [target.path, *inner_params, value]
    expr = "json_extract(data, ?)"
    if op == "~":
        return f"instr(lower(CAST({expr} AS TEXT)), lower(?)) > 0", [target.path, str(value)]
    if op == "!=":
        return f"({expr} IS NULL OR {expr} != ?)", [target.path, target.path, value]
    return f"{expr} {_OPS[op]} ?", [target.path, value]


def parse_filter(kind: str, text: str) -> tuple[str, list[Any]]:
    """SQL condition and parameters for a OneRoster filter expression; ApiError 400 when invalid."""
    groups: list[list[tuple[str, list[Any]]]] = [[]]
    pos, n = 0, len(text)
    if not text.strip():
        raise _filter_error("empty filter")
    while True:
        m = _PRED.match(text, pos)
        if not m:
            raise _filter_error(
                f"cannot parse the filter at position {pos} ({text[pos : pos + 30]!r}); expected "
                "field OP 'value' with OP one of = != > >= < <= ~, joined by AND / OR"
            )
        raw = m.group("sq").replace("''", "'") if m.group("sq") is not None else m.group("dq").replace('""', '"')
        groups[-1].append(_predicate(kind, m.group("field"), m.group("op"), raw))
        pos = m.end()
        if pos >= n:
            break
        j = _JOIN.match(text, pos)
        if not j or not text[pos - 1].isspace():
            raise _filter_error(f"expected AND or OR at position {pos} ({text[pos : pos + 30]!r})")
        if j.group(1).upper() == "OR":
            groups.append([])
        pos = j.end()
    sql = " OR ".join("(" + " AND ".join(s for s, _ in g) + ")" for g in groups)
    params = [p for g in groups for _, ps in g for p in ps]
    return f"({sql})", params


def parse_sort(kind: str, sort: str, order_by: str | None) -> str:
    direction = (order_by or "asc").lower()
    if direction not in ("asc", "desc"):
        raise bad_request(
            "invalid_sort_field", "oneroster.invalid_sort_field", f"orderBy must be asc or desc, not {order_by!r}"
        )
    keys = []
    for name in (s.strip() for s in sort.split(",")):
        error = bad_request("invalid_sort_field", "oneroster.invalid_sort_field", f"cannot sort {kind} by {name!r}")
        target = resolve(kind, name, error) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) else None
        if target is None or target.ftype in ("refs", "strs"):
            raise error
        if name == "sourcedId":  # the indexed column: a sorted page is an index walk, not a sort of all rows
            keys.append(f"sid {direction.upper()}")
            continue
        keys.append(f"json_extract(data, '{target.path}') {direction.upper()}")
    return ", ".join(keys + ["sid"])  # noqa: RUF005


def parse_fields(kind: str, text: str) -> list[str]:
    names = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in names if f not in FIELDS[kind]]
    if unknown or not names:
        raise bad_request(
            "invalid_selection_field",
            "oneroster.invalid_selection_field",
            f"unknown field(s) {', '.join(map(repr, unknown)) or '(none given)'} for {kind} "
            f"(known: {', '.join(FIELDS[kind])})",
        )
    return names


def select_fields(obj: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    return obj if names is None else {k: obj[k] for k in names if k in obj}


def _int_param(params: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise bad_request(
            "invalid_data", "oneroster.invalid_paging", f"{name} must be an integer >= {minimum}, not {raw!r}"
        )
    return value


@dataclass
class Query:
    """The parsed query parameters of one collection request."""

    where: str = ""
    params: list[Any] = field(default_factory=list)
    order: str = "sid"
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    fields: list[str] | None = None


def parse_query(kind: str, params: Mapping[str, str], *, paged: bool = True) -> Query:
    q = Query()
    if params.get("filter"):
        q.where, q.params = parse_filter(kind, params["filter"])
    if params.get("sort"):
        q.order = parse_sort(kind, params["sort"], params.get("orderBy"))
    elif params.get("orderBy") and params["orderBy"].lower() not in ("asc", "desc"):
        parse_sort(kind, "sourcedId", params["orderBy"])
    elif params.get("orderBy", "").lower() == "desc":
        q.order = "sid DESC"
    if params.get("fields"):
        q.fields = parse_fields(kind, params["fields"])
    if paged:
        q.limit = min(_int_param(params, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
        q.offset = _int_param(params, "offset", 0, 0)
    return q
