"""What the simulated Skyward accepts as a lineItem or a result: the body's shape (tolerant of what
real OneRoster clients send), its references, then Skyward's documented rules — each refusal a
distinct token at the start of ``imsx_description`` (see ``docs/simulator.md``)."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from passback.simulator.errors import ApiError, bad_request, invalid
from passback.simulator.schema import ref
from passback.simulator.store import Period, Store, now_iso

SCORE_STATUSES = ("exempt", "fully graded", "not submitted", "partially graded", "submitted")
SCORE_OPTIONAL = frozenset({"exempt", "not submitted"})
STATUSES = ("active", "tobedeleted")
TITLE_MAX = 49  # "less than 50 characters"
USE_GRADE = "Use Grade When Posting Secondary Gradebook Assignment Scores"
USE_GRADE_WHERE = "Skyward Contact Access > District Setup > Configuration > API Configuration"
SHAPE = "oneroster.invalid_data"


def _shape(message: str) -> ApiError:
    return invalid(SHAPE, message)


def envelope(body: bytes, key: str) -> dict[str, Any]:
    """The object inside ``{"<key>": {...}}``; 400 for unparseable JSON, 422 for another shape."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("invalid_data", "oneroster.malformed_json", "the request body is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise _shape(f'the body must be a JSON object {{"{key}": {{...}}}}')
    return data[key]


def _sourced_id(obj: dict[str, Any], kind: str, path_id: str) -> str:
    sid = obj.get("sourcedId")
    if sid is not None and sid != path_id:
        raise _shape(f"{kind}.sourcedId {sid!r} must be absent or equal to the id in the URL ({path_id!r})")
    return path_id


def _ref_id(obj: dict[str, Any], kind: str, name: str, *, required: bool) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _shape(f'{kind}.{name} is required (a reference {{"sourcedId": "..."}})')
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, dict) and isinstance(value.get("sourcedId"), str) and value["sourcedId"].strip():
        return value["sourcedId"].strip()
    raise _shape(f"{kind}.{name} must be a reference with a non-empty sourcedId")


def _number(obj: dict[str, Any], kind: str, name: str) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _shape(f"{kind}.{name} must be a number (got {type(value).__name__})")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise _shape(f"{kind}.{name} must be a number (got {value!r})") from None
    if not math.isfinite(number):
        raise _shape(f"{kind}.{name} must be a finite number (got {value!r})")
    return number


def _date(obj: dict[str, Any], kind: str, name: str, *, required: bool) -> tuple[dt.date, str] | None:
    """(the calendar date as written, the stored ISO string) of a date or datetime field."""
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise _shape(f"{kind}.{name} is required (an ISO 8601 date or datetime)")
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                return day, f"{day.isoformat()}T00:00:00Z"
            moment = dt.datetime.fromisoformat(text)
            return moment.date(), text
        except ValueError:
            pass
    raise _shape(f"{kind}.{name} must be an ISO 8601 date or datetime (got {value!r})")


def _text(obj: dict[str, Any], kind: str, name: str, *, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _shape(f"{kind}.{name} is required (a string)")
        return None
    if not isinstance(value, str):
        raise _shape(f"{kind}.{name} must be a string (got {type(value).__name__})")
    return value


def _status(obj: dict[str, Any], kind: str) -> str:
    status = obj.get("status") or "active"
    if status not in STATUSES:
        raise _shape(f"{kind}.status must be one of {', '.join(STATUSES)} (got {status!r})")
    return str(status)


def _metadata(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise _shape(f"{kind}.metadata must be an object")
    return meta


@dataclass
class LineItemIn:
    sourced_id: str
    title: str
    description: str | None
    assign: tuple[dt.date, str]
    due: tuple[dt.date, str]
    class_id: str
    category_id: str
    period_id: str | None
    value_min: float | None
    value_max: float | None
    status: str
    metadata: dict[str, Any] | None


def parse_line_item(body: bytes, path_id: str) -> LineItemIn:
    o = envelope(body, "lineItem")
    k = "lineItem"
    sid = _sourced_id(o, k, path_id)
    title = _text(o, k, "title", required=True)
    description = _text(o, k, "description")
    assign = _date(o, k, "assignDate", required=True)
    due = _date(o, k, "dueDate", required=True)
    class_id = _ref_id(o, k, "class", required=True)
    category_id = _ref_id(o, k, "category", required=True)
    period_id = _ref_id(o, k, "gradingPeriod", required=False)
    vmin, vmax = _number(o, k, "resultValueMin"), _number(o, k, "resultValueMax")
    assert title is not None and assign and due and class_id and category_id
    return LineItemIn(
        sid,
        title,
        description,
        assign,
        due,
        class_id,
        category_id,
        period_id,
        vmin,
        vmax,
        _status(o, k),
        _metadata(o, k),
    )


def _period_of(periods: list[Period], day: dt.date) -> Period | None:
    return next((p for p in periods if p.contains(day)), None)


def check_line_item(store: Store, tenant: str, li: LineItemIn) -> str:
    """Refuses (ApiError 422) a lineItem the SIS would not store; answers its grading period."""
    if store.roster_k1(tenant, "class", li.class_id) is None:
        raise invalid("skyward.unknown_class", f"lineItem.class {li.class_id!r} is not a class of this district")
    category = store.categories(tenant).get(li.category_id)
    if category is None:
        raise invalid(
            "skyward.unknown_category", f"lineItem.category {li.category_id!r} is not a category of this district"
        )
    if li.period_id is not None and store.roster_k1(tenant, "academicSession", li.period_id) != "gradingPeriod":
        raise invalid(
            "skyward.unknown_grading_period",
            f"lineItem.gradingPeriod {li.period_id!r} is not a grading period of this district",
        )
    # rule 2: active district-level categories only
    if category.status != "active":
        raise invalid(
            "skyward.category_inactive",
            f"lineItem.category {li.category_id!r} is not active "
            f"(status {category.status!r}); only active district-level categories can be used",
        )
    if not category.district_level:
        raise invalid(
            "skyward.category_not_district_level",
            f"lineItem.category {li.category_id!r} is a school-level "
            "category; the API accepts district-level categories only",
        )
    # rule 3: grading periods
    periods = store.periods(tenant)
    (assign_day, _), (due_day, _) = li.assign, li.due
    at_assign, at_due = _period_of(periods, assign_day), _period_of(periods, due_day)
    for label, day, period in (("assignDate", assign_day, at_assign), ("dueDate", due_day, at_due)):
        if period is not None and period.closed:
            raise invalid(
                "skyward.grading_period_closed",
                f"lineItem.{label} {day} falls in grading period "
                f"{period.sourced_id!r}, which is closed: no gradebook writes into a closed grading period",
            )
    for label, day, period in (("assignDate", assign_day, at_assign), ("dueDate", due_day, at_due)):
        if period is None:
            raise invalid(
                "skyward.outside_grading_periods",
                f"lineItem.{label} {day} is not inside any grading period of this district",
            )
    assert at_assign is not None and at_due is not None
    if at_assign.sourced_id != at_due.sourced_id:
        raise invalid(
            "skyward.straddles_grading_periods",
            f"lineItem.assignDate {assign_day} is in grading period "
            f"{at_assign.sourced_id!r} but lineItem.dueDate {due_day} is in {at_due.sourced_id!r}; "
            "both must fall in the same grading period",
        )
    if li.period_id is not None and li.period_id != at_assign.sourced_id:
        raise invalid(
            "skyward.grading_period_mismatch",
            f"lineItem.gradingPeriod {li.period_id!r} is not the grading "
            f"period of its dates ({at_assign.sourced_id!r})",
        )
    # rule 4: dates in order
    if due_day < assign_day:
        raise invalid(
            "skyward.due_before_assign", f"lineItem.dueDate {due_day} precedes lineItem.assignDate {assign_day}"
        )
    # rule 5: title
    title = li.title.strip()
    if not title:
        raise invalid("skyward.title_missing", "lineItem.title must not be blank")
    if len(title) > TITLE_MAX:
        raise invalid("skyward.title_too_long", f"lineItem.title has {len(title)} characters; it must be less than 50")
    # rule 6: whole-number maximum points
    if li.value_max is not None and (li.value_max <= 0 or not li.value_max.is_integer()):
        raise invalid(
            "skyward.max_points_not_whole",
            f"lineItem.resultValueMax {li.value_max:g} must be a whole number greater than 0 (e.g. 10, not 10.5)",
        )
    return at_assign.sourced_id


def render_line_item(tenant: str, li: LineItemIn, period_id: str) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "sourcedId": li.sourced_id,
        "status": li.status,
        "dateLastModified": now_iso(),
        "title": li.title,
        "description": li.description or "",
        "assignDate": li.assign[1],
        "dueDate": li.due[1],
        "class": ref(tenant, "class", li.class_id),
        "category": ref(tenant, "category", li.category_id),
        "gradingPeriod": ref(tenant, "academicSession", period_id),
        "resultValueMin": li.value_min if li.value_min is not None else 0.0,
    }
    if li.value_max is not None:
        obj["resultValueMax"] = li.value_max
    if li.metadata:
        obj["metadata"] = li.metadata
    return obj


@dataclass
class ResultIn:
    sourced_id: str
    line_item_id: str
    student_id: str
    score_status: str
    score: float | None
    score_date: tuple[dt.date, str] | None
    comment: str | None
    status: str
    metadata: dict[str, Any] | None


def parse_result(body: bytes, path_id: str) -> ResultIn:
    o = envelope(body, "result")
    k = "result"
    sid = _sourced_id(o, k, path_id)
    line_item_id = _ref_id(o, k, "lineItem", required=True)
    student_id = _ref_id(o, k, "student", required=True)
    raw_status = o.get("scoreStatus")
    if not isinstance(raw_status, str) or raw_status.strip().lower() not in SCORE_STATUSES:
        raise _shape(f"result.scoreStatus must be one of {', '.join(SCORE_STATUSES)} (got {raw_status!r})")
    score_status = raw_status.strip().lower()
    score = _number(o, k, "score")
    if score is None and score_status not in SCORE_OPTIONAL:
        raise _shape(f"result.score is required when scoreStatus is {score_status!r}")
    if score is not None and score < 0:
        raise _shape(f"result.score must be a number >= 0 (got {score:g})")
    score_date = _date(o, k, "scoreDate", required=False)
    assert line_item_id and student_id
    return ResultIn(
        sid,
        line_item_id,
        student_id,
        score_status,
        score,
        score_date,
        _text(o, k, "comment"),
        _status(o, k),
        _metadata(o, k),
    )


def check_result(store: Store, tenant: str, r: ResultIn) -> str:
    """Refuses (ApiError 422) a result the SIS would not store; answers its class."""
    line_item = store.line_item(tenant, r.line_item_id)
    if line_item is None:
        raise invalid(
            "skyward.unknown_line_item", f"result.lineItem {r.line_item_id!r} is not a lineItem of this district"
        )
    role = store.roster_k1(tenant, "user", r.student_id)
    if role is None:
        raise invalid("skyward.unknown_student", f"result.student {r.student_id!r} is not a user of this district")
    if role != "student":
        raise invalid("skyward.unknown_student", f"result.student {r.student_id!r} is a {role}, not a student")
    if store.settings(tenant).get("use_grade_when_posting"):
        raise invalid(
            "skyward.use_grade_when_posting",
            f"score writes are refused while the Skyward API setting "
            f'"{USE_GRADE}" is checked; uncheck it under {USE_GRADE_WHERE}',
        )
    class_id, period_id, _ = line_item
    closed = {p.sourced_id for p in store.periods(tenant) if p.closed}
    if period_id in closed:
        raise invalid(
            "skyward.grading_period_closed",
            f"result.lineItem {r.line_item_id!r} is in grading period "
            f"{period_id!r}, which is closed: no gradebook writes into a closed grading period",
        )
    if not store.is_enrolled(tenant, class_id, r.student_id, "student"):
        raise invalid(
            "skyward.student_not_enrolled",
            f"result.student {r.student_id!r} is not enrolled as a student in class {class_id!r}",
        )
    return class_id


def render_result(tenant: str, r: ResultIn) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "sourcedId": r.sourced_id,
        "status": r.status,
        "dateLastModified": now_iso(),
        "lineItem": ref(tenant, "lineItem", r.line_item_id),
        "student": ref(tenant, "user", r.student_id),
        "scoreStatus": r.score_status,
    }
    if r.score is not None:
        obj["score"] = r.score
    if r.score_date is not None:
        obj["scoreDate"] = r.score_date[0].isoformat()
    if r.comment is not None:
        obj["comment"] = r.comment
    if r.metadata:
        obj["metadata"] = r.metadata
    return obj
