"""Tokens: cached, refreshed before expiry, refreshed once on 401 (single-flight), secrets never shown."""

from __future__ import annotations

import asyncio
import base64
import logging
import pickle
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from passback.oneroster import AccessForbidden, CredentialsRejected, OneRosterClient, OneRosterError
from tests.client.helpers import SECRET, FakeClock, StrictSIS, status_body

Make = Callable[..., OneRosterClient]
OK_LIST = httpx.Response(200, json={"categories": []})


async def test_one_token_for_many_calls(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/categories", OK_LIST)
    async with make_client() as client:
        for _ in range(20):
            await client.categories()
        await asyncio.gather(*(client.categories() for _ in range(10)))
    assert sis.token_calls == 1
    assert {r.headers["authorization"] for r in sis.api_requests()} == {"Bearer tok-1-opaque"}


async def test_token_request_is_client_credentials_with_basic_auth(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/categories", OK_LIST)
    async with make_client(scopes=["https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.createput"]) as client:
        await client.categories()
    token_request = sis.requests[0]
    assert token_request.url.host == "auth.example.org"
    scheme, _, value = token_request.headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(value).decode() == f"client-1:{SECRET}"
    form = parse_qs(token_request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == ["https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.createput"]
    assert SECRET not in token_request.content.decode()


async def test_token_is_refreshed_shortly_before_expiry(sis: StrictSIS, make_client: Make, clock: FakeClock) -> None:
    sis.token_lifetime = 100  # margin: min(30 s, 10 %) = 10 s
    sis.on("GET", "/categories", OK_LIST)
    async with make_client() as client:
        await client.categories()
        clock.t += 89
        await client.categories()
        assert sis.token_calls == 1
        clock.t += 2
        await client.categories()
    assert sis.token_calls == 2
    assert [r.headers["authorization"] for r in sis.api_requests()] == [
        "Bearer tok-1-opaque",
        "Bearer tok-1-opaque",
        "Bearer tok-2-opaque",
    ]


async def test_long_lived_token_refreshes_30s_early(sis: StrictSIS, make_client: Make, clock: FakeClock) -> None:
    sis.token_lifetime = 3600
    sis.on("GET", "/categories", OK_LIST)
    async with make_client() as client:
        await client.categories()
        clock.t += 3569
        await client.categories()
        assert sis.token_calls == 1
        clock.t += 2
        await client.categories()
    assert sis.token_calls == 2


async def test_401_refreshes_once_then_succeeds(sis: StrictSIS, make_client: Make) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(401), httpx.Response(201))
    async with make_client() as client:
        outcome = await client.put_line_item("li-1", {"sourcedId": "li-1"})
    assert outcome.ok and outcome.attempts == 2
    assert sis.token_calls == 2
    assert [r.headers["authorization"] for r in sis.api_requests()] == ["Bearer tok-1-opaque", "Bearer tok-2-opaque"]
    assert client.stats.token_refreshes == 1


async def test_401_after_refresh_is_credentials_rejected(sis: StrictSIS, make_client: Make) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(401, json=status_body(401, "unauthorisedrequest", "bad token")))
    async with make_client() as client:
        with pytest.raises(CredentialsRejected) as info:
            await client.put_line_item("li-1", {"sourcedId": "li-1"})
    assert sis.api_calls("PUT", "/lineItems/li-1") == 2 and sis.token_calls == 2
    text = str(info.value)
    assert "district d1" in text and "rotate" in text and "auth.example.org" in text
    assert "passback district set d1 --client-secret" in text
    assert info.value.status == 401 and info.value.district_id == "d1"


async def test_concurrent_401s_share_one_refresh(sis: StrictSIS, make_client: Make) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401 if request.headers["authorization"] == "Bearer tok-1-opaque" else 200, json={"categories": []}
        )

    sis.on("GET", "/categories", answer)
    async with make_client() as client:
        await asyncio.gather(*(client.categories() for _ in range(8)))
    assert sis.token_calls == 2


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": "invalid_client", "error_description": "unknown client"}),
        (400, {"error": "invalid_client"}),
    ],
)
async def test_token_endpoint_refusal_is_credentials_rejected(
    sis: StrictSIS, make_client: Make, status: int, body: dict[str, str]
) -> None:
    sis.token_steps.append(httpx.Response(status, json=body))
    async with make_client() as client:
        with pytest.raises(CredentialsRejected) as info:
            await client.categories()
        with pytest.raises(CredentialsRejected):  # remembered: no second token request
            await client.categories()
    assert sis.token_calls == 1 and not sis.api_requests()
    assert "invalid_client" in str(info.value) and "rotate" in str(info.value)


async def test_token_endpoint_invalid_scope_is_access_forbidden(sis: StrictSIS, make_client: Make) -> None:
    sis.token_steps.append(httpx.Response(400, json={"error": "invalid_scope"}))
    async with make_client() as client:
        with pytest.raises(AccessForbidden):
            await client.categories()


async def test_token_endpoint_5xx_is_retried(sis: StrictSIS, make_client: Make) -> None:
    sis.token_steps.extend(
        [
            httpx.Response(503),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"access_token": "late-token", "expires_in": 60}),
        ]
    )
    sis.on("GET", "/categories", OK_LIST)
    async with make_client() as client:
        await client.categories()
    assert sis.token_calls == 3
    assert sis.api_requests()[0].headers["authorization"] == "Bearer late-token"


async def test_token_without_expiry_is_kept_until_a_401(sis: StrictSIS, make_client: Make, clock: FakeClock) -> None:
    sis.token_lifetime = None
    sis.on("GET", "/categories", OK_LIST)
    async with make_client() as client:
        await client.categories()
        clock.t += 10**6
        await client.categories()
    assert sis.token_calls == 1


async def test_secret_and_token_never_shown(
    sis: StrictSIS, make_client: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore, authlib
    token = "tok-1-opaque"
    sis.on(
        "PUT",
        "/lineItems/li-1",
        httpx.Response(422, json=status_body(422, "invalid_data", f"bad request with Bearer {token}")),
    )
    sis.on(
        "PUT",
        "/lineItems/li-2",
        httpx.Response(401, text=f'{{"access_token": "{token}", "client_secret": "{SECRET}"}}'),
    )
    client = make_client()
    async with client:
        rejected = await client.put_line_item("li-1", {"sourcedId": "li-1"})
        with pytest.raises(CredentialsRejected) as info:
            await client.put_line_item("li-2", {"sourcedId": "li-2"})
    basic = base64.b64encode(f"client-1:{SECRET}".encode()).decode()
    shown = [
        str(info.value),
        repr(info.value),
        repr(client),
        str(rejected),
        repr(rejected),
        caplog.text,
        str(pickle.loads(pickle.dumps(info.value))),
    ]
    for text in shown:
        assert SECRET not in text and token not in text and "tok-2-opaque" not in text and basic not in text
    assert "passback.oneroster" in {r.name for r in caplog.records}
    assert any("PUT" in r.getMessage() and "/lineItems/li-1" in r.getMessage() for r in caplog.records)


def test_error_pickles_with_its_fields() -> None:
    err = CredentialsRejected.for_district("d9", "auth.example.org", status=401, request_id="abc")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, CredentialsRejected) and isinstance(back, OneRosterError)
    assert (back.district_id, back.status, back.request_id, str(back)) == ("d9", 401, "abc", str(err))
