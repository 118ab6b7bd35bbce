"""Gradebook writes: create/replace/delete status codes, invalid bodies, and the tolerant inputs
real OneRoster clients send."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.simulator.helpers import Api, line_item, result, status_of, token_of


async def test_put_creates_201_then_replaces_200_and_get_returns_the_stored_object(api: Api) -> None:
    r = await api.put("/lineItems/li-1", line_item())
    assert r.status_code == 201
    stored = r.json()["lineItem"]
    assert stored["sourcedId"] == "li-1" and stored["status"] == "active" and stored["dateLastModified"]
    assert stored["class"] == {"href": "/d1/ims/oneroster/v1p1/classes/c1", "sourcedId": "c1", "type": "class"}
    assert stored["gradingPeriod"]["sourcedId"] == "gp-q2" and stored["resultValueMax"] == 10.0
    r = await api.put("/lineItems/li-1", line_item(title="Renamed"))
    assert r.status_code == 200 and r.json()["lineItem"]["title"] == "Renamed"
    got = await api.get("/lineItems/li-1")
    assert got.json() == {"lineItem": r.json()["lineItem"]}
    assert (await api.put("/results/r-1", result())).status_code == 201
    assert (await api.put("/results/r-1", result(score=9))).status_code == 200
    assert (await api.get("/results/r-1")).json()["result"]["score"] == 9.0


async def test_delete_is_204_then_404_and_a_deleted_line_item_takes_its_results(api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    await api.put("/results/r-1", result())
    await api.put("/results/r-2", result(student={"sourcedId": "s2"}))
    assert (await api.delete("/results/r-2")).status_code == 204
    assert (await api.get("/results/r-2")).status_code == 404
    assert (await api.delete("/results/r-2")).status_code == 404
    r = await api.delete("/lineItems/li-1")
    assert r.status_code == 204 and r.content == b""
    assert (await api.get("/lineItems/li-1")).status_code == 404
    assert (await api.get("/results/r-1")).status_code == 404
    r = await api.delete("/lineItems/li-1")
    assert r.status_code == 404 and status_of(r)["imsx_codeMinor"] == "unknownobject"


async def test_the_grading_period_is_filled_in_when_absent(api: Api) -> None:
    r = await api.put("/lineItems/li-1", line_item(gradingPeriod=...))
    assert r.status_code == 201 and r.json()["lineItem"]["gradingPeriod"]["sourcedId"] == "gp-q2"


# -- tolerant inputs -------------------------------------------------------------------------------


async def test_references_with_only_a_sourced_id(api: Api) -> None:
    r = await api.put(
        "/lineItems/li-1",
        line_item(
            **{
                "class": {"sourcedId": "c1"},
                "category": {"sourcedId": "cat-quiz"},
                "gradingPeriod": {"sourcedId": "gp-q2"},
            }
        ),
    )
    assert r.status_code == 201
    r = await api.put("/results/r-1", result(lineItem={"sourcedId": "li-1"}, student={"sourcedId": "s1"}))
    assert r.status_code == 201 and r.json()["result"]["student"]["type"] == "user"


async def test_numbers_as_strings(api: Api) -> None:
    r = await api.put("/lineItems/li-1", line_item(resultValueMin="0", resultValueMax="100"))
    assert r.status_code == 201 and r.json()["lineItem"]["resultValueMax"] == 100.0
    r = await api.put("/results/r-1", result(score="8.5"))
    assert r.status_code == 201 and r.json()["result"]["score"] == 8.5


@pytest.mark.parametrize(
    "score_date",
    ["2026-11-10", "2026-11-10T14:30:00Z", "2026-11-10T08:30:00-06:00", "2026-11-10T14:30:00.123456+00:00"],
)
async def test_score_date_as_a_date_or_a_datetime(api: Api, score_date: str) -> None:
    await api.put("/lineItems/li-1", line_item())
    r = await api.put("/results/r-1", result(scoreDate=score_date))
    assert r.status_code == 201 and r.json()["result"]["scoreDate"] == "2026-11-10"


async def test_assign_and_due_dates_as_dates_or_datetimes(api: Api) -> None:
    r = await api.put("/lineItems/li-1", line_item(assignDate="2026-11-02", dueDate="2026-11-09T23:59:00-06:00"))
    assert r.status_code == 201
    assert r.json()["lineItem"]["assignDate"] == "2026-11-02T00:00:00Z"


async def test_scores_above_the_maximum_are_stored_as_sent(api: Api) -> None:
    await api.put("/lineItems/li-1", line_item(resultValueMax=100))
    r = await api.put("/results/r-1", result(score=300))
    assert r.status_code == 201 and r.json()["result"]["score"] == 300.0


@pytest.mark.parametrize("status", ["exempt", "fully graded", "not submitted", "partially graded", "submitted"])
async def test_every_score_status(api: Api, status: str) -> None:
    await api.put("/lineItems/li-1", line_item())
    assert (await api.put("/results/r-1", result(scoreStatus=status))).status_code == 201


@pytest.mark.parametrize("status", ["exempt", "not submitted"])
async def test_exempt_and_not_submitted_may_come_without_a_score(api: Api, status: str) -> None:
    await api.put("/lineItems/li-1", line_item())
    r = await api.put("/results/r-1", result(scoreStatus=status, score=...))
    assert r.status_code == 201 and "score" not in r.json()["result"]


async def test_body_sourced_id_absent_or_equal_to_the_path(api: Api) -> None:
    body = line_item()
    body["lineItem"]["sourcedId"] = "li-1"
    assert (await api.put("/lineItems/li-1", body)).status_code == 201
    assert (await api.put("/lineItems/li-2", line_item())).status_code == 201  # absent
    r = await api.put("/lineItems/li-3", body)
    assert r.status_code == 422 and "sourcedId" in status_of(r)["imsx_description"]


# -- invalid bodies --------------------------------------------------------------------------------


async def test_malformed_json_is_400(api: Api) -> None:
    r = await api.put_raw("/lineItems/li-1", b"{not json")
    assert r.status_code == 400 and token_of(r) == "oneroster.malformed_json"


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"title": "no envelope"}, "lineItem", "must be a JSON object"),
        (line_item(title=...), "lineItem.title", "required"),
        (line_item(title=7), "lineItem.title", "must be a string"),
        (line_item(assignDate=...), "lineItem.assignDate", "required"),
        (line_item(dueDate="next tuesday"), "lineItem.dueDate", "ISO 8601"),
        (line_item(**{"class": ...}), "lineItem.class", "required"),
        (line_item(category={"href": "/categories/x"}), "lineItem.category", "sourcedId"),
        (line_item(resultValueMax="ten"), "lineItem.resultValueMax", "must be a number"),
        (line_item(resultValueMax=True), "lineItem.resultValueMax", "must be a number"),
        (line_item(resultValueMax="NaN"), "lineItem.resultValueMax", "finite"),
        (line_item(status="deleted"), "lineItem.status", "one of"),
    ],
)
async def test_invalid_line_items_are_422_naming_field_and_rule(
    api: Api, body: dict[str, Any], field: str, rule: str
) -> None:
    r = await api.put("/lineItems/li-1", body)
    assert r.status_code == 422
    info = status_of(r)
    assert info["imsx_codeMinor"] == "invalid_data" and info["imsx_description"].startswith("oneroster.invalid_data:")
    assert field in info["imsx_description"] and rule in info["imsx_description"]


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        (result(lineItem=...), "result.lineItem", "required"),
        (result(student="  "), "result.student", "sourcedId"),
        (result(scoreStatus="graded"), "result.scoreStatus", "one of"),
        (result(scoreStatus=...), "result.scoreStatus", "one of"),
        (result(score=...), "result.score", "required when scoreStatus is 'fully graded'"),
        (result(score="eight"), "result.score", "must be a number"),
        (result(score=-1), "result.score", ">= 0"),
        (result(scoreDate="yesterday"), "result.scoreDate", "ISO 8601"),
        (result(comment=5), "result.comment", "must be a string"),
    ],
)
async def test_invalid_results_are_422_naming_field_and_rule(
    api: Api, body: dict[str, Any], field: str, rule: str
) -> None:
    await api.put("/lineItems/li-1", line_item())
    r = await api.put("/results/r-1", body)
    assert r.status_code == 422
    description = status_of(r)["imsx_description"]
    assert field in description and rule in description


async def test_a_refused_write_stores_nothing(http: httpx.AsyncClient, api: Api) -> None:
    await api.put("/lineItems/li-1", line_item(title="x" * 60))
    state = (await http.get("/admin/state", params={"tenant": "d1"})).json()
    assert state["lineItems"] == [] and state["counts"] == {"lineItems": 0, "results": 0}


async def test_validation_order_licence_then_shape_then_references_then_rules(
    http: httpx.AsyncClient, api: Api
) -> None:
    # a body that is at once malformed in shape (no dates), has an unknown class and breaks the title rule
    bad_everything = line_item(assignDate=..., **{"class": {"sourcedId": "nope"}}, title="x" * 60)
    unknown_and_long = line_item(**{"class": {"sourcedId": "nope"}}, title="x" * 60)
    assert token_of(await api.put("/lineItems/li-1", bad_everything)) == "oneroster.invalid_data"
    assert token_of(await api.put("/lineItems/li-1", unknown_and_long)) == "skyward.unknown_class"
    await http.post("/admin/tenants/d1/settings", json={"licensed": False})
    r = await api.put("/lineItems/li-1", bad_everything)
    assert r.status_code == 403 and token_of(r) == "skyward.not_licensed"
