"""Payload models are tolerant; parse_status reads every known error shape and never raises."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from passback.oneroster.models import AcademicSession, Category, Enrollment, LineItem, Result, SisStatus, parse_status


def test_status_11_statusinfoset() -> None:
    body = {
        "statusInfoSet": [
            {
                "imsx_codeMajor": "failure",
                "imsx_severity": "error",
                "imsx_codeMinor": "invalid_data",
                "imsx_description": "grading period is closed",
            }
        ]
    }
    assert parse_status(body) == SisStatus("invalid_data", "grading period is closed", "failure")


def test_status_11_several_entries_join_descriptions() -> None:
    body = {
        "statusInfoSet": [
            {"imsx_codeMinor": "invalid_data", "imsx_description": "title too long"},
            {"imsx_codeMinor": "invalid_data", "imsx_description": "due before assign"},
        ]
    }
    assert parse_status(body).description == "title too long; due before assign"


def test_status_12_code_minor_fields() -> None:
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": "unknown lineItem",
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": "unknownobject"}
            ]
        },
    }
    assert parse_status(body) == SisStatus("unknownobject", "unknown lineItem", "failure")


@pytest.mark.parametrize(
    "body",
    [
        b'{"STATUSINFOSET": [{"IMSX_CODEMINOR": "invalid_data", "Imsx_Description": "odd case"}]}',
        '{"statusinfoset": {"statusInfo": [{"imsx_codeminor": "invalid_data", "imsx_description": "odd case"}]}}',
        {
            "imsx_codemajor": "failure",
            "IMSX_codeMinor": {"IMSX_CODEMINORFIELD": [{"imsx_codeminorfieldvalue": "invalid_data"}]},
            "IMSX_DESCRIPTION": "odd case",
        },
        {"imsx_codeMajor": "failure", "imsx_codeMinor": "invalid_data", "imsx_description": "odd case"},
    ],
)
def test_status_key_case_is_tolerated(body: Any) -> None:
    status = parse_status(body)
    assert status.code_minor == "invalid_data" and status.description == "odd case"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", SisStatus(None, "<html><body>502 Bad Gateway</body></html>")),
        (b"", SisStatus()),
        (None, SisStatus()),
        ("plain words", SisStatus(None, "plain words")),
        ({"detail": "Not Found"}, SisStatus(None, "Not Found")),
        ({"error": "invalid_client", "error_description": "bad secret"}, SisStatus("invalid_client", "bad secret")),
        ([{"imsx_codeMinor": "x", "imsx_description": "list root"}], SisStatus("x", "list root")),
    ],
)
def test_status_other_shapes(body: Any, expected: SisStatus) -> None:
    assert parse_status(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b"42",
        b"null",
        b'{"statusInfoSet": "nope"}',
        b'{"statusInfoSet": [1, "a", null]}',
        b'{"imsx_CodeMinor": {"imsx_codeMinorField": "x"}}',
        b'{"imsx_CodeMinor": {"imsx_codeMinorField": [{"imsx_codeMinorFieldValue": {"deep": 1}}]}}',
        {"statusInfoSet": [{"imsx_description": ["not", "a", "string"]}]},
        object(),
    ],
)
def test_status_never_raises(body: Any) -> None:
    assert isinstance(parse_status(body), SisStatus)


def test_long_text_bodies_are_cut() -> None:
    assert len(parse_status("x" * 10_000).description or "") <= 300


def test_sis_status_str() -> None:
    assert str(SisStatus("invalid_data", "closed")) == "invalid_data: closed"
    assert str(SisStatus(None, "closed")) == "closed"
    assert str(SisStatus()) == "no status given"


def test_models_keep_extra_fields_and_coerce_lax_values() -> None:
    li = LineItem.model_validate(
        {"sourcedId": "li", "class": {"sourcedId": "c1"}, "resultValueMax": "10", "skyward_extra": {"a": 1}}
    )
    assert li.class_ is not None and li.class_.sourcedId == "c1" and li.resultValueMax == 10.0
    assert li.model_extra == {"skyward_extra": {"a": 1}}
    assert li.model_dump(by_alias=True)["class"]["sourcedId"] == "c1"
    res = Result.model_validate(
        {
            "sourcedId": "r",
            "lineItem": {"sourcedId": "li"},
            "student": {"sourcedId": "s"},
            "score": "9.5",
            "scoreDate": "2026-01-05T10:00:00Z",
        }
    )
    assert res.score == 9.5


def test_academic_session_dates_accept_dates_and_datetimes() -> None:
    s = AcademicSession.model_validate(
        {
            "sourcedId": "gp1",
            "type": "gradingPeriod",
            "schoolYear": 2026,
            "startDate": "2025-08-01T00:00:00Z",
            "endDate": "2025-10-31",
        }
    )
    assert s.startDate == dt.date(2025, 8, 1) and s.endDate == dt.date(2025, 10, 31) and s.schoolYear == "2026"


def test_category_and_enrollment() -> None:
    c = Category.model_validate(
        {"sourcedId": "cat", "title": "Tests", "status": "active", "metadata": {"skyward.districtLevel": False}}
    )
    assert c.metadata == {"skyward.districtLevel": False}
    e = Enrollment.model_validate(
        {
            "sourcedId": "e",
            "user": {"sourcedId": "u"},
            "class": {"sourcedId": "c"},
            "role": "student",
            "primary": "false",
        }
    )
    assert e.class_.sourcedId == "c" and e.primary is False
