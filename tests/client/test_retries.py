"""The client's behaviour per response kind: retries, the attempt budget, Retry-After, rejections."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable

import httpx
import pytest

from passback.oneroster import (
    AccessForbidden,
    OneRosterClient,
    RetryPolicy,
    SisUnreachable,
    TransientExhausted,
)
from tests.client.helpers import FakeClock, StrictSIS, status_body

LI = {"lineItem": {"sourcedId": "li-1", "title": "Quiz 1"}}
Make = Callable[..., OneRosterClient]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retriable_statuses_are_retried(sis: StrictSIS, make_client: Make, status: int) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(status), httpx.Response(201))
    async with make_client() as client:
        outcome = await client.put_line_item("li-1", LI)
    assert outcome.ok and outcome.created and outcome.attempts == 2
    assert sis.api_calls("PUT", "/lineItems/li-1") == 2
    assert client.stats.retries[str(status)] == 1


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_permanent_4xx_is_a_rejection_not_retried(sis: StrictSIS, make_client: Make, status: int) -> None:
    sis.on(
        "PUT", "/lineItems/li-1", httpx.Response(status, json=status_body(status, "invalid_data", "Title is too long"))
    )
    async with make_client() as client:
        outcome = await client.put_line_item("li-1", LI)
    assert not outcome.ok and outcome.http_status == status and outcome.attempts == 1
    assert outcome.rejection is not None
    assert outcome.rejection.code_minor == "invalid_data"
    assert outcome.rejection.description == "Title is too long"
    assert sis.api_calls("PUT", "/lineItems/li-1") == 1
    assert client.stats.rejections == 1


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
    ],
)
async def test_timeouts_and_connection_errors_are_retried(sis: StrictSIS, make_client: Make, exc: Exception) -> None:
    sis.on("GET", "/categories", httpx.Response(200, json={"categories": []}))  # first contact succeeds
    sis.on("PUT", "/results/r-1", exc, httpx.Response(200))
    async with make_client() as client:
        await client.categories()
        outcome = await client.put_result("r-1", {"sourcedId": "r-1"})
    assert outcome.ok and not outcome.created and outcome.attempts == 2


async def test_retry_after_seconds_is_honoured(sis: StrictSIS, make_client: Make, clock: FakeClock) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200))
    async with make_client() as client:
        assert (await client.put_line_item("li-1", LI)).ok
    assert clock.sleeps == [pytest.approx(7.0)]
    assert client.stats.throttled == 1


async def test_retry_after_http_date_is_honoured(sis: StrictSIS, make_client: Make, clock: FakeClock) -> None:
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    sis.on("PUT", "/lineItems/li-1", httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200))
    async with make_client() as client:
        assert (await client.put_line_item("li-1", LI)).ok
    assert len(clock.sleeps) == 1 and 28.0 <= clock.sleeps[0] <= 30.0


async def test_retry_after_is_capped(sis: StrictSIS, make_client: Make, clock: FakeClock) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(200))
    async with make_client() as client:
        assert (await client.put_line_item("li-1", LI)).ok
    assert clock.sleeps == [pytest.approx(60.0)]


@pytest.mark.parametrize("attempts", [1, 3, 6])
async def test_attempt_budget_is_exact(sis: StrictSIS, clock: FakeClock, attempts: int) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(503, json=status_body(503, "server_busy", "busy")))
    retry = RetryPolicy(max_attempts=attempts, sleep=clock.sleep, clock=clock.now)
    client = OneRosterClient(
        "d1",
        "https://sis.example.org/d1/ims/oneroster/v1p1",
        "https://auth.example.org/d1/oauth/token",
        "client-1",
        "secret-x",
        transport=httpx.MockTransport(sis.handler),
        retry=retry,
    )
    async with client:
        with pytest.raises(TransientExhausted) as info:
            await client.put_line_item("li-1", LI)
    assert sis.api_calls("PUT", "/lineItems/li-1") == attempts
    assert info.value.attempts == attempts and info.value.status == 503
    assert "d1" in str(info.value) and "busy" in str(info.value)
    assert len(clock.sleeps) == attempts - 1  # no sleep after the last attempt


async def test_default_budget_is_six_attempts_with_growing_backoff(
    sis: StrictSIS, make_client: Make, clock: FakeClock
) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(500))
    async with make_client(rand=lambda: 1.0) as client:
        with pytest.raises(TransientExhausted):
            await client.put_line_item("li-1", LI)
    assert sis.api_calls("PUT", "/lineItems/li-1") == 6
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])


async def test_403_is_access_forbidden(sis: StrictSIS, make_client: Make) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(403, json=status_body(403, "forbidden", "no licence")))
    async with make_client() as client:
        with pytest.raises(AccessForbidden) as info:
            await client.put_line_item("li-1", LI)
    text = str(info.value)
    assert "d1" in text and "licence" in text and "scope" in text and "no licence" in text
    assert sis.api_calls("PUT", "/lineItems/li-1") == 1


async def test_delete_of_an_absent_item_is_ok(sis: StrictSIS, make_client: Make) -> None:
    sis.on("DELETE", "/lineItems/li-1", httpx.Response(204))
    sis.on("DELETE", "/lineItems/li-2", httpx.Response(404, json=status_body(404, "unknownobject", "no such")))
    async with make_client() as client:
        first = await client.delete_line_item("li-1")
        second = await client.delete_line_item("li-2")
    assert first.ok and first.http_status == 204
    assert second.ok and second.http_status == 404


async def test_payload_is_sent_once_wrapped_in_its_envelope(sis: StrictSIS, make_client: Make) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(201))
    sis.on("PUT", "/results/r-1", httpx.Response(201))
    async with make_client() as client:
        await client.put_line_item("li-1", {"sourcedId": "li-1", "title": "bare"})
        await client.put_line_item("li-1", LI)
        await client.put_result("r-1", {"result": {"sourcedId": "r-1", "score": 9.5}})
    import json

    bodies = [json.loads(r.content) for r in sis.api_requests()]
    assert bodies == [
        {"lineItem": {"sourcedId": "li-1", "title": "bare"}},
        LI,
        {"result": {"sourcedId": "r-1", "score": 9.5}},
    ]
    assert all(r.headers["content-type"] == "application/json" for r in sis.api_requests())


async def test_unresolvable_host_on_first_contact_is_unreachable(sis: StrictSIS, make_client: Make) -> None:
    sis.token_steps.append(httpx.ConnectError("[Errno -2] Name or service not known"))
    async with make_client() as client:
        with pytest.raises(SisUnreachable) as info:
            await client.categories()
    assert sis.token_calls == 1
    assert "auth.example.org" in str(info.value) and "DNS" in str(info.value)


async def test_refused_connection_on_first_contact_ends_unreachable(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/categories", httpx.ConnectError("[Errno 111] Connection refused"))
    async with make_client() as client:
        with pytest.raises(SisUnreachable) as info:
            await client.categories()
    assert sis.api_calls("GET", "/categories") == 6
    assert "sis.example.org" in str(info.value) and "firewall" in str(info.value)


async def test_bad_certificate_on_first_api_contact_is_unreachable(sis: StrictSIS, make_client: Make) -> None:
    sis.on("GET", "/categories", httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    async with make_client() as client:
        with pytest.raises(SisUnreachable) as info:
            await client.categories()
    assert sis.api_calls("GET", "/categories") == 1
    assert "TLS certificate" in str(info.value)


async def test_stats_count_requests_retries_and_bytes(sis: StrictSIS, make_client: Make) -> None:
    sis.on(
        "PUT",
        "/lineItems/li-1",
        httpx.Response(502),
        httpx.ReadTimeout("slow"),
        httpx.Response(201, json={"lineItem": {}}),
    )
    async with make_client() as client:
        await client.put_line_item("li-1", LI)
    stats = client.stats.as_dict()
    assert stats["requests"] == 3 and stats["retries"] == {"502": 1, "timeout": 1}
    assert stats["token_fetches"] == 1 and stats["bytes_sent"] > 0 and stats["bytes_received"] > 0
