"""Hostile faults: each knob answers as a login proxy, another service, a SIS that loses writes, a
dripping or huge body, endless paging, echoed credentials or control characters would — and
stores nothing it does not acknowledge (except ``phantom``, which acknowledges and undoes)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from passback.scenario import Scenario
from passback.simulator.hostile import LOGIN_HOST
from passback.simulator.server import SimulatorThread
from tests.simulator.helpers import API, SECRETS, Api, district, get_token, line_item, status_of

TOKEN_FORM = {"grant_type": "client_credentials"}


async def faults(http: httpx.AsyncClient, **knobs: Any) -> None:
    r = await http.post("/admin/faults", json=knobs)
    assert r.status_code == 200, r.text


async def stored(http: httpx.AsyncClient, tenant: str = "d1") -> dict[str, Any]:
    return dict((await http.get("/admin/state", params={"tenant": tenant})).json())


async def tenant_stats(http: httpx.AsyncClient, tenant: str = "d1") -> dict[str, Any]:
    return dict((await http.get("/admin/stats")).json()["tenants"][tenant])


@pytest.mark.parametrize(
    ("knob", "status", "check"),
    [
        (
            "html_write_rate",
            200,
            lambda r: r.headers["content-type"].startswith("text/html") and b"Sign in" in r.content,
        ),
        ("foreign_json_rate", 200, lambda r: set(r.json()) == {"status", "id", "message"}),
        ("redirect_rate", 307, lambda r: httpx.URL(r.headers["location"]).host == LOGIN_HOST),
    ],
)
async def test_hostile_write_answers_store_nothing(
    http: httpx.AsyncClient, api: Api, knob: str, status: int, check: Any
) -> None:
    await faults(http, **{knob: 1.0})
    r = await api.put("/lineItems/li-1", line_item())
    assert r.status_code == status and check(r), r.text
    assert (await api.get("/lineItems")).status_code == 200  # reads are served as usual
    state = await stored(http)
    assert state["lineItems"] == []
    puts = (await tenant_stats(http))["puts"]["lineItem"]
    assert "201" not in puts and "200" not in puts  # never counted as a stored write
    await faults(http, **{knob: 0.0})
    assert (await api.put("/lineItems/li-1", line_item())).status_code == 201


async def test_hostile_write_rate_is_a_share(http: httpx.AsyncClient, api: Api) -> None:
    await faults(http, html_write_rate=0.3, seed=5)
    codes = [(await api.put(f"/lineItems/li-{i}", line_item())).headers["content-type"] for i in range(200)]
    html = sum(c.startswith("text/html") for c in codes)
    assert 35 <= html <= 85
    assert len((await stored(http))["lineItems"]) == 200 - html
    assert (await tenant_stats(http))["hostile"] == {"html": html}


async def test_a_phantom_write_is_acknowledged_but_not_kept(http: httpx.AsyncClient, api: Api) -> None:
    assert (await api.put("/lineItems/li-1", line_item(title="Original"))).status_code == 201
    await faults(http, phantom_write_rate=1.0)
    replaced = await api.put("/lineItems/li-1", line_item(title="Changed"))
    created = await api.put("/lineItems/li-2", line_item(title="New one"))
    assert replaced.status_code == 200 and replaced.json()["lineItem"]["title"] == "Changed"
    assert created.status_code == 201 and created.json()["lineItem"]["sourcedId"] == "li-2"
    assert (await api.get("/lineItems/li-1")).json()["lineItem"]["title"] == "Original"  # the old version stays
    assert (await api.get("/lineItems/li-2")).status_code == 404
    assert [li["sourcedId"] for li in (await stored(http))["lineItems"]] == ["li-1"]
    stats = await tenant_stats(http)
    assert stats["puts"]["lineItem"] == {"201": 1, "phantom": 2} and stats["hostile"] == {"phantom": 2}


async def test_the_token_endpoint_answers_html(http: httpx.AsyncClient) -> None:
    await faults(http, html_token=True)
    r = await http.post("/d1/oauth/token", data=TOKEN_FORM, auth=("otus-d1", SECRETS["d1"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and b"<form" in r.content
    assert (await tenant_stats(http))["token_requests"] == {"html": 1}


@pytest.mark.parametrize("basic", [True, False])
async def test_the_token_endpoint_echoes_the_credentials_in_a_200_error(http: httpx.AsyncClient, basic: bool) -> None:
    await faults(http, echo_credentials=True)
    if basic:
        r = await http.post("/d1/oauth/token", data=TOKEN_FORM, auth=("otus-d1", SECRETS["d1"]))
    else:
        r = await http.post(
            "/d1/oauth/token", data={**TOKEN_FORM, "client_id": "otus-d1", "client_secret": SECRETS["d1"]}
        )
    body = r.json()
    assert r.status_code == 200 and body["error"] == "invalid_client" and "access_token" not in body
    assert body["client_secret"] == SECRETS["d1"] and SECRETS["d1"] in body["error_description"]
    assert ("Basic " in body["error_description"]) is basic


async def test_endless_next_links_invent_records_forever(http: httpx.AsyncClient, api: Api) -> None:
    await faults(http, endless_next_links=True)
    first = await api.get("/classes", limit=2)
    far = await api.get("/classes", limit=2, offset=5000)
    for r, offset in ((first, 0), (far, 5000)):
        assert r.status_code == 200 and "x-total-count" not in r.headers
        assert len(r.json()["classes"]) == 2
        assert httpx.URL(r.links["next"]["url"]).params["offset"] == str(offset + 2)
    assert [c["sourcedId"] for c in first.json()["classes"]] == ["c1", "c2"]
    assert [c["sourcedId"] for c in far.json()["classes"]] == ["ghost-5000", "ghost-5001"]


async def test_a_lying_total_count_stays_two_pages_ahead(http: httpx.AsyncClient, api: Api) -> None:
    await faults(http, lying_total_count=True)
    for offset in (0, 100, 7000):
        r = await api.get("/categories", limit=100, offset=offset)
        assert r.headers["x-total-count"] == str(offset + 300) and len(r.json()["categories"]) == 100
    await faults(http, lying_total_count=False)
    assert (await api.get("/categories")).headers["x-total-count"] == "4"


async def test_control_characters_reach_every_error_description(http: httpx.AsyncClient, api: Api) -> None:
    await faults(http, control_chars=True)
    refused = await api.put("/lineItems/li-1", line_item(title="x" * 60))
    description = status_of(refused)["imsx_description"]
    assert refused.status_code == 422 and description.startswith("\x1b[2J") and description.endswith("\x07")
    assert "skyward.title_too_long" in description
    token = await http.post("/d1/oauth/token", data=TOKEN_FORM, auth=("otus-d1", "wrong-secret"))
    assert token.status_code == 401 and "\x1b[" in token.json()["error_description"]
    ok = await api.get("/classes")
    assert ok.status_code == 200 and "\x1b" not in ok.text  # only error bodies


async def test_an_oversized_body_is_the_real_answer_padded(http: httpx.AsyncClient, api: Api) -> None:
    await faults(http, oversize_rate=1.0, oversize_mb=1.5)
    r = await api.get("/categories")
    assert len(r.content) == int(1.5 * 2**20) and "content-length" not in r.headers
    assert len(r.json()["categories"]) == 4  # valid JSON: the answer, then whitespace


def test_a_dripping_body_arrives_one_byte_at_a_time_and_stops_when_the_client_leaves() -> None:
    async def scenario(url: str) -> tuple[list[float], int]:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
            await faults(http, drip_rate=1.0, drip_interval_s=0.05)
            token = await get_token(http)  # the token endpoint never drips
            arrivals: list[float] = []
            started = time.monotonic()
            async with http.stream(
                "GET", f"/d1{API}/categories/cat-quiz", headers={"Authorization": f"Bearer {token}"}
            ) as r:
                assert r.status_code == 200 and int(r.headers["content-length"]) > 100  # > 5 s of dripping
                async for chunk in r.aiter_raw():
                    arrivals.append(time.monotonic() - started)
                    assert len(chunk) == 1
                    if len(arrivals) == 10:
                        break
            await asyncio.sleep(0.3)  # a request is counted when the server is done with it
            stats = (await http.get("/admin/stats")).json()["tenants"]["d1"]
            return arrivals, stats["hostile"].get("drip", 0)

    with SimulatorThread(Scenario(districts=[district("d1")])) as sim:
        arrivals, drips = asyncio.run(scenario(sim.url))
    assert arrivals[-1] - arrivals[0] >= 9 * 0.05 * 0.8  # ~one byte per interval
    assert drips == 1  # counted 0.3 s after the client left: the server stopped dripping (else > 5 s more)
