"""The OneRoster 1.1 object shapes the simulator serves: field names and types per kind (for
``filter``, ``sort`` and ``fields``) and the reference (``GUIDRef``) helper."""

from __future__ import annotations

from typing import Literal

API_PREFIX = "/ims/oneroster/v1p1"
TOKEN_SUFFIX = "/oauth/token"

FieldType = Literal["str", "num", "bool", "ref", "refs", "strs", "obj"]

_BASE: dict[str, FieldType] = {"sourcedId": "str", "status": "str", "dateLastModified": "str", "metadata": "obj"}

FIELDS: dict[str, dict[str, FieldType]] = {
    "org": {**_BASE, "name": "str", "type": "str", "identifier": "str", "parent": "ref", "children": "refs"},
    "academicSession": {
        **_BASE,
        "title": "str",
        "type": "str",
        "startDate": "str",
        "endDate": "str",
        "parent": "ref",
        "children": "refs",
        "schoolYear": "str",
    },
    "class": {
        **_BASE,
        "title": "str",
        "classCode": "str",
        "classType": "str",
        "location": "str",
        "grades": "strs",
        "subjects": "strs",
        "course": "ref",
        "school": "ref",
        "terms": "refs",
    },
    "user": {
        **_BASE,
        "username": "str",
        "enabledUser": "str",
        "givenName": "str",
        "familyName": "str",
        "middleName": "str",
        "role": "str",
        "identifier": "str",
        "email": "str",
        "sms": "str",
        "phone": "str",
        "orgs": "refs",
        "agents": "refs",
        "grades": "strs",
    },
    "enrollment": {
        **_BASE,
        "user": "ref",
        "class": "ref",
        "school": "ref",
        "role": "str",
        "primary": "bool",
        "beginDate": "str",
        "endDate": "str",
    },
    "category": {**_BASE, "title": "str"},
    "lineItem": {
        **_BASE,
        "title": "str",
        "description": "str",
        "assignDate": "str",
        "dueDate": "str",
        "class": "ref",
        "category": "ref",
        "gradingPeriod": "ref",
        "resultValueMin": "num",
        "resultValueMax": "num",
    },
    "result": {
        **_BASE,
        "lineItem": "ref",
        "student": "ref",
        "scoreStatus": "str",
        "score": "num",
        "scoreDate": "str",
        "comment": "str",
    },
}

COLLECTION_OF: dict[str, str] = {
    "org": "orgs",
    "academicSession": "academicSessions",
    "class": "classes",
    "user": "users",
    "enrollment": "enrollments",
    "category": "categories",
    "lineItem": "lineItems",
    "result": "results",
    "course": "courses",
}


def api_base(tenant: str) -> str:
    return f"/{tenant}{API_PREFIX}"


def ref(tenant: str, kind: str, sourced_id: str, ref_type: str | None = None) -> dict[str, str]:
    """A 1.1 GUIDRef: ``{"href", "sourcedId", "type"}`` (href is path-absolute on this server)."""
    return {
        "href": f"{api_base(tenant)}/{COLLECTION_OF[kind]}/{sourced_id}",
        "sourcedId": sourced_id,
        "type": ref_type or kind,
    }
