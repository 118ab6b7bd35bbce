"""Writes against the real simulator: create (201), replace (200), identical resend, the SIS's verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from passback.oneroster import AccessForbidden, OneRosterClient
from tests.contract.helpers import line_item, result
from tests.toolkit import Sis


def stored(sim: Sis, kind: str) -> dict[str, dict[str, Any]]:
    return {o["sourcedId"]: o for o in sim.state()[kind]}


async def test_put_line_item_creates_then_replaces_and_an_identical_resend_changes_nothing(
    client: OneRosterClient, sim: Sis
) -> None:
    created = await client.put_line_item("li-1", line_item())
    assert (created.ok, created.http_status, created.created) == (True, 201, True)
    renamed = await client.put_line_item("li-1", line_item(title="Fractions quiz (retake)"))
    assert (renamed.ok, renamed.http_status, renamed.created) == (True, 200, False)
    before = stored(sim, "lineItems")["li-1"]
    again = await client.put_line_item("li-1", line_item(title="Fractions quiz (retake)"))
    assert (again.ok, again.http_status, again.created) == (True, 200, False)
    after = sim.state()
    assert len(after["lineItems"]) == 1 and after["duplicate_line_items"] == 0
    item = after["lineItems"][0]
    assert item["title"] == "Fractions quiz (retake)"
    assert {k: v for k, v in item.items() if k != "dateLastModified"} == {
        k: v for k, v in before.items() if k != "dateLastModified"
    }


async def test_put_result_creates_then_replaces(client: OneRosterClient, sim: Sis) -> None:
    assert (await client.put_line_item("li-1", line_item())).ok
    first = await client.put_result("r-1", result(score=8.5))
    assert (first.ok, first.http_status, first.created) == (True, 201, True)
    second = await client.put_result("r-1", result(score=9))
    assert (second.ok, second.http_status, second.created) == (True, 200, False)
    identical = await client.put_result("r-1", result(score=9))
    assert (identical.ok, identical.http_status) == (True, 200)
    results = stored(sim, "results")
    assert list(results) == ["r-1"] and float(results["r-1"]["score"]) == 9.0


async def test_an_envelope_less_payload_is_wrapped(client: OneRosterClient, sim: Sis) -> None:
    outcome = await client.put_line_item("li-2", line_item("li-2")["lineItem"])
    assert outcome.ok and outcome.created
    assert "li-2" in stored(sim, "lineItems")


@pytest.mark.parametrize(
    ("kind", "payload", "token"),
    [
        ("lineItem", line_item("li-bad", title="x" * 57), "skyward.title_too_long"),
        ("lineItem", line_item("li-bad", category={"sourcedId": "cat-school"}), "skyward.category_not_district_level"),
        ("lineItem", line_item("li-bad", category={"sourcedId": "cat-old"}), "skyward.category_inactive"),
        (
            "lineItem",
            line_item("li-bad", assignDate="2026-09-01", dueDate="2026-09-08", gradingPeriod=...),
            "skyward.grading_period_closed",
        ),
        ("lineItem", line_item("li-bad", resultValueMax="10.5"), "skyward.max_points_not_whole"),
        ("lineItem", line_item("li-bad", resultValueMax="ten"), "oneroster.invalid_data"),
        ("result", result("r-bad", student="s3"), "skyward.student_not_enrolled"),
        ("result", result("r-bad", line_item_id="li-unknown"), "skyward.unknown_line_item"),
    ],
)
async def test_a_refused_write_surfaces_the_sis_status_and_stores_nothing(
    client: OneRosterClient, sim: Sis, kind: str, payload: dict[str, Any], token: str
) -> None:
    if kind == "result":
        assert (await client.put_line_item("li-1", line_item())).ok
        outcome = await client.put_result("r-bad", payload)
    else:
        outcome = await client.put_line_item("li-bad", payload)
    assert (outcome.ok, outcome.http_status, outcome.created) == (False, 422, False)
    assert outcome.rejection is not None
    assert outcome.rejection.code_minor == "invalid_data"
    assert outcome.rejection.description.startswith(f"{token}: ")
    assert outcome.attempts == 1  # the SIS's verdict is not retried
    assert "li-bad" not in stored(sim, "lineItems") and "r-bad" not in stored(sim, "results")


async def test_without_the_licence_a_write_raises_access_forbidden_and_reads_still_work(
    client: OneRosterClient, sim: Sis
) -> None:
    sim.settings(licensed=False)
    with pytest.raises(AccessForbidden) as caught:
        await client.put_line_item("li-1", line_item())
    assert caught.value.status == 403 and caught.value.district_id == "d1"
    assert "district d1" in str(caught.value) and "licence" in str(caught.value)
    assert "skyward.not_licensed" in caught.value.body_excerpt
    assert len(await client.categories()) == 4
    assert sim.state()["lineItems"] == []
