"""Collection reads always stop: total count, missing next link, short or empty page, page budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from passback.oneroster import OneRosterClient, PaginationError
from passback.oneroster.models import AcademicSession, Class
from tests.client.helpers import BASE, StrictSIS

Make = Callable[..., OneRosterClient]


def classes(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"sourcedId": f"c{i}", "title": f"Class {i}"} for i in range(start, start + n)]


def paged(
    rows: list[dict[str, Any]],
    *,
    total: bool = True,
    links: bool = False,
    cap: int | None = None,
    ignore_offset: bool = False,
) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", 100))
        limit = min(limit, cap) if cap else limit
        offset = 0 if ignore_offset else int(request.url.params.get("offset", 0))
        page = rows[offset : offset + limit]
        headers: dict[str, str] = {}
        if total:
            headers["X-Total-Count"] = str(len(rows))
        if links:
            link = [f'<{BASE}/classes?limit={limit}&offset=0>; rel="first"']
            if offset + limit < len(rows):
                link.append(f'<{BASE}/classes?limit={limit}&offset={offset + limit}>; rel="next"')
            headers["Link"] = ", ".join(link)
        return httpx.Response(200, json={"classes": page}, headers=headers)

    return answer


def offsets(sis: StrictSIS) -> list[int]:
    return [int(r.url.params["offset"]) for r in sis.api_requests()]


async def test_stops_at_total_count(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(250)))
    async with make_client() as client:
        rows = await client.get_collection("classes", page_size=100, model=Class)
    assert [r.sourcedId for r in rows] == [f"c{i}" for i in range(250)]
    assert offsets(sis) == [0, 100, 200]


async def test_exact_multiple_of_page_size_needs_no_extra_request(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(200)))
    async with make_client() as client:
        assert len(await client.get_collection("classes", page_size=100)) == 200
    assert offsets(sis) == [0, 100]


async def test_follows_links_and_stops_when_next_is_missing(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(200), total=False, links=True))
    async with make_client() as client:
        assert len(await client.get_collection("classes", page_size=100)) == 200
    assert offsets(sis) == [0, 100]  # the second page has no rel="next": no third request


async def test_without_headers_stops_on_short_page(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(150), total=False))
    async with make_client() as client:
        assert len(await client.get_collection("classes", page_size=100)) == 150
    assert offsets(sis) == [0, 100]


async def test_without_headers_stops_on_empty_page(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(200), total=False))
    async with make_client() as client:
        assert len(await client.get_collection("classes", page_size=100)) == 200
    assert offsets(sis) == [0, 100, 200]


async def test_empty_page_stops_even_when_total_says_more(sis: StrictSIS, make_client: Make) -> None:
    def lying(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(
            200, json={"classes": classes(100) if offset == 0 else []}, headers={"X-Total-Count": "500"}
        )

    sis.on("GET", "/classes", lying)
    async with make_client() as client:
        assert len(await client.get_collection("classes", page_size=100)) == 100
    assert offsets(sis) == [0, 100]


async def test_server_capping_the_page_size_is_followed(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(120), cap=50))
    async with make_client() as client:
        assert len(await client.get_collection("classes", page_size=100)) == 120
    assert offsets(sis) == [0, 50, 100]


async def test_a_total_beyond_the_page_budget_fails_at_the_first_page(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(1000)))
    async with make_client() as client:
        with pytest.raises(PaginationError) as info:
            await client.get_collection("classes", page_size=100, max_pages=3)
    assert len(sis.api_requests()) == 1  # X-Total-Count said 1000: no need to read 3 pages to know
    assert "3 pages" in str(info.value) and "1000" in str(info.value) and "d1" in str(info.value)


@pytest.mark.parametrize("headers", ["links", "none"])
async def test_page_budget_raises_without_a_total(sis: StrictSIS, make_client: Make, headers: str) -> None:
    sis.on("GET", "/classes", paged(classes(1000), total=False, links=headers == "links"))
    async with make_client() as client:
        with pytest.raises(PaginationError) as info:
            await client.get_collection("classes", page_size=100, max_pages=3)
    assert len(sis.api_requests()) == 3 and "3 pages" in str(info.value) and "d1" in str(info.value)


async def test_ignored_offset_raises(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(300), total=False, ignore_offset=True))
    async with make_client() as client:
        with pytest.raises(PaginationError, match="offset"):
            await client.get_collection("classes", page_size=100)
    assert len(sis.api_requests()) == 2


async def test_next_link_to_another_host_is_not_followed(sis: StrictSIS, make_client: Make) -> None:
    sis.on(
        "GET",
        "/classes",
        httpx.Response(
            200,
            json={"classes": classes(100)},
            headers={"Link": '<https://evil.example.com/classes?offset=100>; rel="next"'},
        ),
    )
    async with make_client() as client:
        with pytest.raises(PaginationError, match="another host"):
            await client.get_collection("classes", page_size=100)
    assert len(sis.api_requests()) == 1


async def test_iter_collection_streams_and_passes_filters(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/classes", paged(classes(30)))
    async with make_client() as client:
        seen = [
            row["sourcedId"]
            async for row in client.iter_collection("classes", params={"filter": "title~'C'"}, page_size=10)
        ]
    assert len(seen) == 30
    assert {r.url.params["filter"] for r in sis.api_requests()} == {"title~'C'"}


async def test_grading_periods_are_read_from_academic_sessions(sis: StrictSIS, make_client: Make) -> None:
    sessions = [
        {
            "sourcedId": "gp1",
            "type": "gradingPeriod",
            "title": "Q1",
            "startDate": "2025-08-01",
            "endDate": "2025-10-31",
        },
        {"sourcedId": "t1", "type": "term", "title": "S1", "startDate": "2025-08-01", "endDate": "2025-12-31"},
    ]
    sis.on(
        "GET",
        "/academicSessions",
        httpx.Response(200, json={"academicSessions": sessions}, headers={"X-Total-Count": "2"}),
    )
    async with make_client() as client:
        periods = await client.grading_periods()
    assert [p.sourcedId for p in periods] == ["gp1"] and isinstance(periods[0], AcademicSession)
    assert sis.api_requests()[0].url.params["filter"] == "type='gradingPeriod'"


async def test_single_reads_and_404(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/lineItems/li-1", httpx.Response(200, json={"lineItem": {"sourcedId": "li-1", "title": "Quiz"}}))
    sis.on("GET", "/lineItems/li-x", httpx.Response(404, json={"statusInfoSet": [{"imsx_codeMinor": "unknownobject"}]}))
    sis.on(
        "GET",
        "/results/r-1",
        httpx.Response(
            200,
            json={
                "result": {
                    "sourcedId": "r-1",
                    "lineItem": {"sourcedId": "li-1"},
                    "student": {"sourcedId": "s1"},
                    "score": 3,
                }
            },
        ),
    )
    async with make_client() as client:
        li = await client.get_line_item("li-1")
        assert li is not None and li.title == "Quiz"
        assert await client.get_line_item("li-x") is None
        result = await client.get_result("r-1")
        assert result is not None and result.score == 3.0


async def test_read_rejection_raises(sis: StrictSIS, make_client: Make) -> None:
    from passback.oneroster import RequestRejected

    sis.on(
        "GET",
        "/classes",
        httpx.Response(
            400, json={"statusInfoSet": [{"imsx_codeMinor": "invalid_filter_field", "imsx_description": "bad field"}]}
        ),
    )
    async with make_client() as client:
        with pytest.raises(RequestRejected) as info:
            await client.classes()
    assert info.value.code_minor == "invalid_filter_field" and info.value.status == 400
