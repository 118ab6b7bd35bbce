"""Reads against the real simulator: pagination over several pages, its hard stop, models, 404."""

from __future__ import annotations

import pytest

from passback.oneroster import OneRosterClient, PaginationError
from passback.oneroster.models import User
from tests.toolkit import Sis


def gets(sim: Sis, suffix: str) -> int:
    return sum(1 for r in sim.requests("d1") if r["method"] == "GET" and r["path"].endswith(suffix))


async def test_a_collection_is_read_page_by_page_until_the_end(client: OneRosterClient, sim: Sis) -> None:
    users = await client.get_collection("users", model=User, page_size=2)
    assert [u.sourcedId for u in users] == ["s1", "s2", "s3", "s4", "t1"]  # 5 users, default order sourcedId
    assert gets(sim, "/users") == 3  # 2 + 2 + 1


async def test_an_exact_multiple_of_the_page_size_stops_without_an_extra_page(
    client: OneRosterClient, sim: Sis
) -> None:
    categories = await client.get_collection("categories", page_size=2)
    assert len(categories) == 4
    assert gets(sim, "/categories") == 2  # no Link rel="next" after the second page


async def test_the_page_budget_is_a_hard_stop(client: OneRosterClient) -> None:
    with pytest.raises(PaginationError, match="page budget"):
        await client.get_collection("users", page_size=2, max_pages=2)


async def test_grading_periods_and_categories_carry_skywards_metadata(client: OneRosterClient) -> None:
    periods = {p.sourcedId: p for p in await client.grading_periods()}
    assert set(periods) == {"gp-q1", "gp-q2", "gp-q3"}
    assert periods["gp-q1"].metadata["skyward.gradingPeriodClosed"] is True
    assert str(periods["gp-q2"].startDate) == "2026-10-19"
    categories = {c.sourcedId: c for c in await client.categories()}
    assert categories["cat-old"].status == "tobedeleted"
    assert categories["cat-school"].metadata["skyward.districtLevel"] is False


async def test_an_unknown_single_object_reads_as_none(client: OneRosterClient) -> None:
    assert await client.get_line_item("no-such-line-item") is None
    assert await client.get_result("no-such-result") is None
