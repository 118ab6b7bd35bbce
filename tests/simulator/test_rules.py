"""Skyward's rules: each refusal has its own status, codeMinor and description token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

import passback.simulator
from tests.simulator.helpers import Api, line_item, result, status_of, token_of

LINE_ITEM_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown class", {"class": {"sourcedId": "c-none"}}, "skyward.unknown_class"),
    ("unknown category", {"category": {"sourcedId": "cat-none"}}, "skyward.unknown_category"),
    ("unknown grading period", {"gradingPeriod": {"sourcedId": "term-1"}}, "skyward.unknown_grading_period"),
    ("inactive category", {"category": {"sourcedId": "cat-old"}}, "skyward.category_inactive"),
    ("school-level category", {"category": {"sourcedId": "cat-school"}}, "skyward.category_not_district_level"),
    (
        "both dates in the closed Q1",
        {"assignDate": "2026-09-01", "dueDate": "2026-09-08", "gradingPeriod": ...},
        "skyward.grading_period_closed",
    ),
    (
        "assign date in the closed Q1",
        {"assignDate": "2026-10-12", "dueDate": "2026-10-20", "gradingPeriod": ...},
        "skyward.grading_period_closed",
    ),
    (
        "due date outside every period",
        {"assignDate": "2026-12-14", "dueDate": "2026-12-25", "gradingPeriod": ...},
        "skyward.outside_grading_periods",
    ),
    (
        "assign date before the year",
        {"assignDate": "2026-07-01", "dueDate": "2026-11-09", "gradingPeriod": ...},
        "skyward.outside_grading_periods",
    ),
    (
        "straddles Q2 and Q3",
        {"assignDate": "2026-12-15", "dueDate": "2027-01-06", "gradingPeriod": ...},
        "skyward.straddles_grading_periods",
    ),
    (
        "named period differs from the dates'",
        {"gradingPeriod": {"sourcedId": "gp-q3"}},
        "skyward.grading_period_mismatch",
    ),
    ("due before assign", {"assignDate": "2026-11-09", "dueDate": "2026-11-02"}, "skyward.due_before_assign"),
    ("blank title", {"title": "   "}, "skyward.title_missing"),
    ("50-character title", {"title": "x" * 50}, "skyward.title_too_long"),
    ("fractional max points", {"resultValueMax": 10.5}, "skyward.max_points_not_whole"),
    ("zero max points", {"resultValueMax": 0}, "skyward.max_points_not_whole"),
    ("negative max points", {"resultValueMax": "-5"}, "skyward.max_points_not_whole"),
]


@pytest.mark.parametrize(("case", "overrides", "token"), LINE_ITEM_RULES, ids=[c[0] for c in LINE_ITEM_RULES])
async def test_line_item_rules(api: Api, case: str, overrides: dict[str, Any], token: str) -> None:
    r = await api.put("/lineItems/li-1", line_item(**overrides))
    assert r.status_code == 422, r.text
    info = status_of(r)
    assert info["imsx_codeMinor"] == "invalid_data" and token_of(r) == token
    assert (await api.get("/lineItems/li-1")).status_code == 404


def test_every_error_token_is_documented() -> None:
    package = Path(passback.simulator.__file__).parent
    source = "\n".join(p.read_text(encoding="utf-8") for p in package.glob("*.py"))
    tokens = set(re.findall(r"\b((?:skyward|oneroster|oauth|fault)\.[a-z_]+)\b", source)) - {"skyward.districtLevel"}
    assert len(tokens) > 25
    docs = (package.parents[1] / "docs" / "simulator.md").read_text(encoding="utf-8")
    assert sorted(t for t in tokens if f"`{t}`" not in docs) == []


async def test_titles_count_characters_not_bytes(api: Api) -> None:
    assert (await api.put("/lineItems/li-1", line_item(title="é" * 49))).status_code == 201  # 98 bytes, 49 characters
    assert token_of(await api.put("/lineItems/li-2", line_item(title="é" * 50))) == "skyward.title_too_long"


async def test_grading_period_closed_messages_name_the_period(api: Api) -> None:
    r = await api.put("/lineItems/li-1", line_item(assignDate="2026-09-01", dueDate="2026-09-08", gradingPeriod=...))
    description = status_of(r)["imsx_description"]
    assert "'gp-q1'" in description and "closed" in description
    r = await api.put("/lineItems/li-1", line_item(assignDate="2026-12-15", dueDate="2027-01-06", gradingPeriod=...))
    assert "closed" not in status_of(r)["imsx_description"]  # a straddle is not a closed period


async def test_whole_max_points_pass_whatever_their_form(api: Api) -> None:
    for i, value in enumerate((10, 10.0, "10", "10.0", None)):
        assert (await api.put(f"/lineItems/li-{i}", line_item(resultValueMax=value))).status_code == 201


async def test_no_licence_makes_every_write_403(http: httpx.AsyncClient, api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    await api.put("/results/r-1", result())
    await http.post("/admin/tenants/d1/settings", json={"licensed": False})
    for call in (
        api.put("/lineItems/li-2", line_item()),
        api.put("/results/r-2", result()),
        api.delete("/lineItems/li-1"),
        api.delete("/results/r-1"),
    ):
        r = await call
        assert r.status_code == 403 and status_of(r)["imsx_codeMinor"] == "forbidden"
        assert token_of(r) == "skyward.not_licensed" and "LMS/OneRoster API licence" in status_of(r)["imsx_description"]
    assert (await api.get("/lineItems")).status_code == 200  # read-only, not closed


async def test_use_grade_when_posting_refuses_every_result_write(http: httpx.AsyncClient, api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    await http.post("/admin/tenants/d1/settings", json={"use_grade_when_posting": True})
    r = await api.put("/results/r-1", result())
    assert r.status_code == 422 and token_of(r) == "skyward.use_grade_when_posting"
    description = status_of(r)["imsx_description"]
    assert "Use Grade When Posting Secondary Gradebook Assignment Scores" in description
    assert "Skyward Contact Access > District Setup > Configuration > API Configuration" in description
    assert (await api.put("/lineItems/li-2", line_item())).status_code == 201  # lineItems are not affected
    await http.post("/admin/tenants/d1/settings", json={"use_grade_when_posting": False})
    assert (await api.put("/results/r-1", result())).status_code == 201


@pytest.mark.parametrize(
    ("overrides", "token"),
    [
        ({"lineItem": {"sourcedId": "li-none"}}, "skyward.unknown_line_item"),
        ({"student": {"sourcedId": "s-none"}}, "skyward.unknown_student"),
        ({"student": {"sourcedId": "t1"}}, "skyward.unknown_student"),
        ({"student": {"sourcedId": "s3"}}, "skyward.student_not_enrolled"),  # enrolled in c2, not c1
        ({"student": {"sourcedId": "s4"}}, "skyward.student_not_enrolled"),  # enrolled nowhere
    ],
)
async def test_result_reference_and_enrolment_rules(api: Api, overrides: dict[str, Any], token: str) -> None:
    await api.put("/lineItems/li-1", line_item())
    r = await api.put("/results/r-1", result(**overrides))
    assert r.status_code == 422 and token_of(r) == token


async def test_a_student_not_enrolled_message_says_so(api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    r = await api.put("/results/r-1", result(student={"sourcedId": "s3"}))
    assert "not enrolled as a student in class 'c1'" in status_of(r)["imsx_description"]


async def test_closing_a_grading_period_refuses_its_writes_and_deletes(http: httpx.AsyncClient, api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    await api.put("/results/r-1", result())
    assert (await http.post("/admin/tenants/d1/grading-periods/gp-q2/close")).status_code == 200
    for call in (
        api.put("/lineItems/li-1", line_item()),
        api.put("/results/r-1", result()),
        api.put("/results/r-2", result(student={"sourcedId": "s2"})),
        api.delete("/results/r-1"),
        api.delete("/lineItems/li-1"),
    ):
        r = await call
        assert r.status_code == 422 and token_of(r) == "skyward.grading_period_closed"
    gp = (await api.get("/gradingPeriods/gp-q2")).json()["academicSession"]
    assert gp["metadata"]["skyward.gradingPeriodClosed"] is True
    await http.post("/admin/tenants/d1/grading-periods/gp-q2/open")
    assert (await api.put("/lineItems/li-1", line_item())).status_code == 200
