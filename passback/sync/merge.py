"""An update keeps the teacher's edits: the three-way merge before a lineItem update.

OneRoster's PUT replaces the whole object, so re-sending a lineItem after an Otus-side change would
silently revert what a teacher changed in the SIS (the guide lets them change the category there).
Before updating a lineItem passback sent earlier, its SIS copy is read (one GET per lineItem
update; updates are rare) and each audited field is merged three ways:

* Otus changed it since passback's last send (``desired != base``): Otus's value is sent;
* else the SIS holds another value than passback last sent (``sis != base``): the SIS's is kept;
* else: unchanged, sent as it is.

The ledger keeps passback's INTENT (the desired payload's hash and values, ``sent``), not the merged
body: the next run writes nothing, and a kept field stays kept on every later update (its base is
still passback's value, its SIS value still the teacher's).  The audit records the fields sent
(``before → after``) and the fields kept (``kept``).  Results keep today's rule: a changed Otus
score is sent.
"""

from __future__ import annotations

from typing import Any

from passback.domain.codes import Kind
from passback.domain.payloads import _ref, line_item_id
from passback.store.audit import FIELDS, _plain, values_of

LINE_ITEM_FIELDS = FIELDS["lineItem"]  # title, assign_date, due_date, category, points_possible


def sis_values(line_item: Any) -> list[Any]:
    """The audited values of the SIS's copy of a lineItem (``oneroster.models.LineItem``)."""
    category = getattr(line_item, "category", None)
    return [
        line_item.title,
        (line_item.assignDate or "")[:10] or None,
        (line_item.dueDate or "")[:10] or None,
        category.sourcedId if category is not None else None,
        _plain(line_item.resultValueMax),
    ]


def merge(base: list[Any] | None, desired: list[Any], sis: list[Any] | None) -> dict[str, Any]:
    """{field: the SIS's value} of the fields to keep as the SIS has them (empty: send ``desired``
    whole).  No base (nothing sent before is known) or no SIS copy (deleted there): nothing is kept."""
    if base is None or sis is None:
        return {}
    return {name: s for name, b, d, s in zip(LINE_ITEM_FIELDS, base, desired, sis, strict=False) if d == b and s != b}


def apply_kept(body: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    """The lineItem payload ``{"lineItem": {...}}`` with the kept fields set to the SIS's values."""
    if not kept:
        return body
    li = dict(body["lineItem"])
    for name, value in kept.items():
        if name == "title":
            li["title"] = value
        elif name in ("assign_date", "due_date"):
            li["assignDate" if name == "assign_date" else "dueDate"] = None if value is None else f"{value}T00:00:00Z"
        elif name == "category":
            li["category"] = None if value is None else _ref(value, "category", "categories")
        elif name == "points_possible":
            li["resultValueMax"] = None if value is None else float(value)
    return {"lineItem": li}


async def read_and_merge(
    client: Any, sink: Any, district_id: str, rows: Any
) -> tuple[dict[str, dict[str, Any]], list[tuple[Any, str]]]:
    """For the ``update`` rows of a lineItem plan frame: ({sourcedId: fields to keep}, [(row, error)
    of the lineItems whose SIS copy could not be read]).  One GET per update whose last-sent values
    the ledger holds (``sink.last_sent``)."""
    updates = rows[rows["action"] == "update"] if "action" in rows else rows.iloc[:0]
    if updates.empty:
        return {}, []
    base = sink.last_sent(Kind.line_item, [str(a) for a in updates["assessment_id"]])
    kept: dict[str, dict[str, Any]] = {}
    unread: list[tuple[Any, str]] = []
    for row in updates.itertuples(index=True):  # updates are rare: a Python loop over them is fine
        if base.get(row.assessment_id) is None:
            continue
        sid = line_item_id(district_id, row.assessment_id)
        try:
            copy = await client.get_line_item(sid)
        except Exception as exc:  # noqa: BLE001 - a failed read holds this update, not the run
            unread.append((row, str(exc)))
            continue
        fields = merge(
            base[row.assessment_id], values_of(Kind.line_item, row), None if copy is None else sis_values(copy)
        )
        if fields:
            kept[sid] = fields
    return kept, unread
