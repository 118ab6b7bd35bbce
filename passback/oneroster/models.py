"""Pydantic models of the OneRoster 1.1 payloads the client reads, and the SIS status bodies.

Every model allows (keeps) extra fields: a SIS may send more than the standard says.  Numbers
sent as strings are accepted (pydantic's lax mode); dates accept a date or a datetime string.
``parse_status`` turns any error body (1.1 ``statusInfoSet``, 1.2 ``imsx_CodeMinor``, odd key
case, FastAPI ``detail``, OAuth ``error``, plain text) into a :class:`SisStatus` and never raises.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EXCERPT_CHARS = 300


class OneRosterModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True)


class GUIDRef(OneRosterModel):
    sourcedId: str
    href: str | None = None
    type: str | None = None


class Base(OneRosterModel):
    sourcedId: str
    status: str | None = "active"
    dateLastModified: str | None = None
    metadata: dict[str, Any] | None = None


def _as_date(value: Any) -> Any:
    """'2025-08-01', '2025-08-01T00:00:00Z' and date objects all become a date."""
    if isinstance(value, str) and len(value) >= 10:
        return value[:10]
    if isinstance(value, dt.datetime):
        return value.date()
    return value


class AcademicSession(Base):
    title: str | None = None
    type: str | None = None
    startDate: dt.date | None = None
    endDate: dt.date | None = None
    parent: GUIDRef | None = None
    schoolYear: str | None = None

    _dates = field_validator("startDate", "endDate", mode="before")(_as_date)


class Category(Base):
    title: str | None = None
    weight: float | None = None


class Class(Base):
    title: str | None = None
    classCode: str | None = None
    classType: str | None = None
    course: GUIDRef | None = None
    school: GUIDRef | None = None
    terms: list[GUIDRef] = Field(default_factory=list)


class User(Base):
    givenName: str | None = None
    familyName: str | None = None
    role: str | None = None
    username: str | None = None
    identifier: str | None = None
    email: str | None = None
    orgs: list[GUIDRef] = Field(default_factory=list)


class Enrollment(Base):
    user: GUIDRef
    class_: GUIDRef = Field(alias="class")
    school: GUIDRef | None = None
    role: str | None = None
    primary: bool | None = None


class LineItem(Base):
    title: str | None = None
    description: str | None = None
    assignDate: str | None = None
    dueDate: str | None = None
    class_: GUIDRef | None = Field(default=None, alias="class")
    category: GUIDRef | None = None
    gradingPeriod: GUIDRef | None = None
    resultValueMin: float | None = None
    resultValueMax: float | None = None


class Result(Base):
    lineItem: GUIDRef
    student: GUIDRef
    scoreStatus: str | None = None
    score: float | None = None
    scoreDate: str | None = None
    comment: str | None = None


# -- status bodies ------------------------------------------------------------------------------


class _CaseTolerant(BaseModel):
    """Matches incoming keys to the field names whatever their case (imsx_codeminor, IMSX_CodeMinor...)."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _fold_case(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        names = {name.lower(): name for name in cls.model_fields}
        return {names.get(str(k).lower(), k): v for k, v in data.items()}


class StatusInfo11(_CaseTolerant):
    """One entry of a 1.1 ``statusInfoSet``."""

    imsx_codeMajor: str | None = None
    imsx_severity: str | None = None
    imsx_codeMinor: str | None = None
    imsx_description: str | None = None


class CodeMinorField(_CaseTolerant):
    imsx_codeMinorFieldName: str | None = None
    imsx_codeMinorFieldValue: str | None = None


class CodeMinor(_CaseTolerant):
    imsx_codeMinorField: list[CodeMinorField] = Field(default_factory=list)


class StatusInfo12(_CaseTolerant):
    """The 1.2 root status object (``imsx_CodeMinor.imsx_codeMinorField[]``)."""

    imsx_codeMajor: str | None = None
    imsx_severity: str | None = None
    imsx_description: str | None = None
    imsx_CodeMinor: CodeMinor | None = None


@dataclass(frozen=True, slots=True)
class SisStatus:
    """What the SIS said about a request it refused: its code (e.g. ``invalid_data``) and message."""

    code_minor: str | None = None
    description: str | None = None
    code_major: str | None = None

    def __str__(self) -> str:
        if self.code_minor and self.description:
            return f"{self.code_minor}: {self.description}"
        return self.description or self.code_minor or "no status given"


def _lower_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()}


def _from_11(entries: list[Any]) -> SisStatus | None:
    infos = [StatusInfo11.model_validate(e) for e in entries if isinstance(e, Mapping)]
    if not infos:
        return None
    descriptions = [i.imsx_description for i in infos if i.imsx_description]
    minor = next((i.imsx_codeMinor for i in infos if i.imsx_codeMinor), None)
    major = next((i.imsx_codeMajor for i in infos if i.imsx_codeMajor), None)
    return SisStatus(minor, "; ".join(descriptions) or None, major)


def _from_12(obj: Mapping[str, Any]) -> SisStatus:
    info = StatusInfo12.model_validate(obj)
    fields = info.imsx_CodeMinor.imsx_codeMinorField if info.imsx_CodeMinor else []
    minor = next((f.imsx_codeMinorFieldValue for f in fields if f.imsx_codeMinorFieldValue), None)
    return SisStatus(minor, info.imsx_description, info.imsx_codeMajor)


def _from_object(obj: Mapping[str, Any]) -> SisStatus | None:
    low = _lower_keys(obj)
    status_set = low.get("statusinfoset", low.get("imsx_statusinfo"))
    if isinstance(status_set, Mapping):  # {"statusInfoSet": {"statusInfo": [...]}} or a single entry
        inner = _lower_keys(status_set).get("statusinfo", status_set)
        status_set = inner if isinstance(inner, list) else [inner]
    if isinstance(status_set, list):
        return _from_11(status_set)
    if "imsx_codemajor" in low or "imsx_codeminor" in low:
        if isinstance(low.get("imsx_codeminor"), Mapping):
            return _from_12(obj)
        return _from_11([obj])
    if "error" in low:  # OAuth 2 token endpoint error
        text = low.get("error_description")
        return SisStatus(str(low["error"]), str(text) if text else None)
    if "detail" in low:  # FastAPI / generic
        detail = low["detail"]
        return SisStatus(None, detail if isinstance(detail, str) else json.dumps(detail)[:EXCERPT_CHARS])
    return None


def parse_status(body: bytes | str | Mapping[str, Any] | list[Any] | None) -> SisStatus:
    """The SIS's status from an error body of any known shape; never raises."""
    try:
        data: Any = body
        if isinstance(body, bytes | bytearray):
            data = body.decode("utf-8", errors="replace")
        if isinstance(data, str):
            text = data.strip()
            if not text:
                return SisStatus()
            try:
                data = json.loads(text)
            except ValueError:
                return SisStatus(None, text[:EXCERPT_CHARS])
        if isinstance(data, list):
            return _from_11(data) or SisStatus()
        if isinstance(data, Mapping):
            return _from_object(data) or SisStatus(None, json.dumps(data, default=str)[:EXCERPT_CHARS])
        return SisStatus(None, str(data)[:EXCERPT_CHARS]) if data is not None else SisStatus()
    except Exception:  # noqa: BLE001 - a status parser must never fail the caller
        return SisStatus(None, "unparseable status body")
