"""A broken or hostile SIS, answer by answer (MockTransport): only a OneRoster answer is an
acknowledgement, a 3xx is a configuration error, each request ends at its deadline and its size
bound, a zero token lifetime does not mean a token per request, and the secret never shows."""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from passback.oneroster import (
    AccessForbidden,
    BoundExceeded,
    CredentialsRejected,
    OneRosterClient,
    OneRosterError,
    PaginationError,
    RetryPolicy,
    SisRedirected,
    SisUnreachable,
    TransientExhausted,
    UnexpectedAnswer,
)
from passback.oneroster.policy import Expect, classify
from tests.client.helpers import BASE, SECRET, FakeClock, StrictSIS, status_body
from tests.leaks import everything_shown, exception_chain

Make = Callable[..., OneRosterClient]
LI = {"lineItem": {"sourcedId": "li-1", "title": "Quiz"}}
HTML = "<!DOCTYPE html><html><body><form>Sign in</form></body></html>"
BASIC = base64.b64encode(f"client-1:{SECRET}".encode()).decode()


def html(status: int = 200) -> httpx.Response:
    return httpx.Response(status, text=HTML, headers={"Content-Type": "text/html; charset=utf-8"})


# -- the one decision: is this the answer the request expects? ------------------------------------
WRITE = Expect("item", "lineItem", "li-1")


@pytest.mark.parametrize(
    ("response", "expect", "kind", "reason"),
    [
        (httpx.Response(204), WRITE, "ok", ""),
        (httpx.Response(200, content=b"  \n"), WRITE, "ok", ""),
        (httpx.Response(201, json={"lineItem": {"sourcedId": "li-1"}}), WRITE, "ok", ""),
        (httpx.Response(200, json={"lineItem": {"title": "no id echoed"}}), WRITE, "ok", ""),
        (httpx.Response(200, json={"statusInfoSet": [{"imsx_codeMajor": "success"}]}), WRITE, "ok", ""),
        (httpx.Response(200, json={"lineItem": {"sourcedId": "li-2"}}), WRITE, "foreign", "sourced_id"),
        (httpx.Response(200, json={"result": {"sourcedId": "li-1"}}), WRITE, "foreign", "shape"),
        (httpx.Response(200, json={"status": "ok", "id": 7}), WRITE, "foreign", "shape"),
        (httpx.Response(200, json=[{"sourcedId": "li-1"}]), WRITE, "foreign", "shape"),
        (
            httpx.Response(200, json={"statusInfoSet": [{"imsx_codeMajor": "failure"}]}),
            WRITE,
            "foreign",
            "failure_status",
        ),
        (html(200), WRITE, "foreign", "html"),
        (httpx.Response(200, text="<html>no content type</html>"), WRITE, "foreign", "html"),
        (httpx.Response(200, text="OK"), WRITE, "foreign", "not_json"),
        (html(404), WRITE, "foreign", "html"),
        (httpx.Response(422, json=status_body(422, "invalid_data", "bad")), WRITE, "reject", "422"),
        (httpx.Response(307, headers={"Location": "https://sso.example.net/login"}), WRITE, "redirect", "307"),
        (httpx.Response(301), None, "redirect", "301"),
        (html(503), WRITE, "retry", "503"),
        (html(401), WRITE, "auth", "401"),
        (httpx.Response(200, json={"classes": []}), Expect("json"), "ok", ""),
        (httpx.Response(200, text=HTML), Expect("json"), "foreign", "html"),
        (httpx.Response(200, text="42"), Expect("json"), "foreign", "shape"),
        (httpx.Response(200, json={"access_token": "t"}), Expect("token"), "ok", ""),
        (httpx.Response(200, json={"error": "invalid_client"}), Expect("token"), "reject", "oauth_error"),
        (httpx.Response(200, json={"token": "t"}), Expect("token"), "foreign", "shape"),
        (html(200), Expect("token"), "foreign", "html"),
    ],
)
def test_what_an_answer_is(response: httpx.Response, expect: Expect | None, kind: str, reason: str) -> None:
    decision = classify(response, expect)
    assert (decision.kind, decision.reason if kind != "ok" else "") == (kind, reason)


# -- writes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [
        html(200),
        httpx.Response(200, json={"status": "ok"}),
        httpx.Response(200, text="saved"),
        httpx.Response(201, json={"lineItem": {"sourcedId": "someone-else"}}),
        html(404),
    ],
)
async def test_a_write_answered_with_something_else_is_not_acknowledged(
    sis: StrictSIS, make_client: Make, answer: httpx.Response
) -> None:
    sis.on("PUT", "/lineItems/li-1", answer)
    async with make_client() as client:
        outcome = await client.put_line_item("li-1", LI)
    assert not outcome.ok and outcome.rejection is None and outcome.error is not None
    assert "passback district show d1" in outcome.error
    assert sis.api_calls("PUT", "/lineItems/li-1") == 1  # never retried either


async def test_a_few_unexpected_answers_stop_the_district(sis: StrictSIS, make_client: Make) -> None:
    for i in range(8):
        sis.on("PUT", f"/lineItems/li-{i}", html(200))
    async with make_client(concurrency=1) as client:
        outcomes = []
        with pytest.raises(UnexpectedAnswer) as caught:
            async for outcome in client.put_many("lineItem", [(f"li-{i}", LI) for i in range(8)]):
                outcomes.append(outcome)
    assert len(outcomes) == 2 and all(o.error for o in outcomes)  # the third raised
    text = str(caught.value)
    assert "district d1 stopped: 3 writes" in text and "an HTML page: a login page or a proxy" in text
    assert "nothing was recorded" in text and not caught.value.retriable


async def test_a_delete_of_an_absent_item_needs_a_oneroster_404(sis: StrictSIS, make_client: Make) -> None:
    sis.on("DELETE", "/lineItems/li-1", httpx.Response(404, json=status_body(404, "unknownobject", "no such")))
    sis.on("DELETE", "/lineItems/li-2", html(404))
    async with make_client() as client:
        assert (await client.delete_line_item("li-1")).ok
        gone = await client.delete_line_item("li-2")
    assert not gone.ok and gone.error is not None and "HTML page" in gone.error


async def test_a_refusal_with_control_characters_is_neutralised(sis: StrictSIS, make_client: Make) -> None:
    sis.on(
        "PUT", "/lineItems/li-1", httpx.Response(422, json=status_body(422, "\x1b[2Jinvalid_data", "\x1b[31mbad\x07"))
    )
    async with make_client() as client:
        outcome = await client.put_line_item("li-1", LI)
    assert outcome.rejection is not None
    shown = f"{outcome.rejection.code_minor} {outcome.rejection.description}"
    assert "\x1b" not in shown and "\x07" not in shown and shown == "\\x1b[2Jinvalid_data \\x1b[31mbad\\x07"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_a_configuration_error_never_a_rejection(
    sis: StrictSIS, make_client: Make, status: int
) -> None:
    sis.on("PUT", "/lineItems/li-1", httpx.Response(status, headers={"Location": "https://sso.example.net/x"}))
    async with make_client() as client:
        with pytest.raises(SisRedirected) as caught:
            await client.put_line_item("li-1", LI)
    assert "sso.example.net" in str(caught.value) and f"HTTP {status}" in str(caught.value)
    assert "passback district set d1 --base-url" in str(caught.value)
    assert client.stats.rejections == 0 and sis.api_calls("PUT", "/lineItems/li-1") == 1


# -- reads -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "said"),
    [(html(200), "HTML page"), (httpx.Response(200, text="hello"), "not JSON"), (html(404), "HTML page")],
)
async def test_a_read_answered_with_something_else_raises(
    sis: StrictSIS, make_client: Make, answer: httpx.Response, said: str
) -> None:
    sis.on("GET", "/categories", answer)
    async with make_client() as client:
        with pytest.raises(UnexpectedAnswer) as caught:
            await client.categories()
    assert said in str(caught.value) and "GET" in str(caught.value) and "district d1" in str(caught.value)


async def test_a_total_that_keeps_growing_stops_the_read(sis: StrictSIS, make_client: Make) -> None:
    def growing(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        rows = [{"sourcedId": f"c{offset + i}"} for i in range(100)]
        return httpx.Response(200, json={"classes": rows}, headers={"X-Total-Count": str(offset + 300)})

    sis.on("GET", "/classes", growing)
    async with make_client() as client:
        with pytest.raises(PaginationError) as caught:
            await client.classes()
    assert "lying X-Total-Count" in str(caught.value) and "300" in str(caught.value)
    assert len(sis.api_requests()) == 5  # the 3 pages announced, one page of slack, and the one beyond it


async def test_more_records_than_announced_on_one_page_stop_the_read(sis: StrictSIS, make_client: Make) -> None:
    rows = [{"sourcedId": f"c{i}"} for i in range(100)]
    sis.on("GET", "/classes", httpx.Response(200, json={"classes": rows}, headers={"X-Total-Count": "-5"}))
    async with make_client() as client:
        with pytest.raises(PaginationError):
            await client.classes()


# -- bounds ------------------------------------------------------------------------------------------
class Drip(httpx.AsyncByteStream):
    def __init__(self, body: bytes, every_s: float) -> None:
        self.body, self.every_s = body, every_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(len(self.body)):
            await asyncio.sleep(self.every_s)
            yield self.body[i : i + 1]


class Endless(httpx.AsyncByteStream):
    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b" " * 65536
        while True:
            self.sent += len(chunk)
            yield chunk


async def test_a_dripping_body_ends_at_the_deadline_not_per_read(sis: StrictSIS, make_client: Make) -> None:
    body = json.dumps({"categories": []}).encode()
    sis.on("GET", "/categories", lambda _: httpx.Response(200, stream=Drip(body, 0.05)))
    async with make_client(deadline_s=0.3) as client:
        started = time.monotonic()
        with pytest.raises(BoundExceeded) as caught:
            await client.categories()
    assert time.monotonic() - started < 1.0 and sis.api_calls("GET", "/categories") == 1
    assert "still arriving when the 0.3 s deadline passed" in str(caught.value)


async def test_a_head_that_never_comes_is_a_timeout_retried(sis: StrictSIS, clock: FakeClock) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    sis.on("GET", "/categories", hang)
    retry = RetryPolicy(max_attempts=2, sleep=clock.sleep, clock=clock.now)
    async with OneRosterClient(
        "d1",
        BASE,
        "https://auth.example.org/d1/oauth/token",
        "client-1",
        SECRET,
        transport=httpx.MockTransport(sis.handler),
        retry=retry,
        deadline_s=0.2,
    ) as client:
        with pytest.raises(SisUnreachable) as caught:
            await client.categories()
    assert sis.api_calls("GET", "/categories") == 2 and "timeout" in str(caught.value)


async def test_an_endless_body_stops_at_the_size_limit(sis: StrictSIS, make_client: Make) -> None:
    stream = Endless()
    sis.on("GET", "/categories", lambda _: httpx.Response(200, stream=stream))
    async with make_client(max_response_bytes=2**20) as client:
        with pytest.raises(BoundExceeded) as caught:
            await client.categories()
    assert 2**20 < stream.sent <= 2**20 + 2 * 65536  # stopped reading right after the limit
    assert "larger than the 1 MB limit" in str(caught.value)


async def test_an_announced_size_beyond_the_limit_is_not_read(sis: StrictSIS, make_client: Make) -> None:
    stream = Endless()
    sis.on("GET", "/categories", lambda _: httpx.Response(200, stream=stream, headers={"Content-Length": str(2**30)}))
    async with make_client() as client:
        with pytest.raises(BoundExceeded) as caught:
            await client.categories()
    assert stream.sent == 0 and "1024.0 MB announced" in str(caught.value) and "32 MB" in str(caught.value)


# -- tokens ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lifetime", [0, -5, "0", 0.2, "soon"])
async def test_a_zero_or_absurd_token_lifetime_does_not_mean_a_token_per_request(
    sis: StrictSIS, make_client: Make, clock: FakeClock, lifetime: Any
) -> None:
    sis.token_steps.append(lambda _: httpx.Response(200, json={"access_token": "t-1", "expires_in": lifetime}))
    sis.on("PUT", "/results/r-1", httpx.Response(200))
    async with make_client() as client:
        for _ in range(700):
            clock.t += 1
            assert (await client.put_result("r-1", {"sourcedId": "r-1"})).ok
    assert sis.token_calls == 1 and client.stats.token_fetches == 1


async def test_a_token_kept_until_a_401_is_refreshed_by_it(sis: StrictSIS, make_client: Make) -> None:
    sis.token_lifetime = 0
    sis.on("PUT", "/results/r-1", httpx.Response(200), httpx.Response(401), httpx.Response(200))
    async with make_client() as client:
        for _ in range(3):
            assert (await client.put_result("r-1", {"sourcedId": "r-1"})).ok
    assert sis.token_calls == 2


ECHO = {
    "error": "invalid_client",
    "error_description": f"client client-1 secret {SECRET} (Basic {BASIC})",
    "client_secret": SECRET,
    "echo": f"client_secret={SECRET}&grant_type=client_credentials",
}


@pytest.mark.parametrize(
    ("answer", "error", "said"),
    [
        (httpx.Response(200, json=ECHO), CredentialsRejected, "invalid_client"),
        (httpx.Response(401, json=ECHO), CredentialsRejected, "invalid_client"),
        (httpx.Response(400, json={**ECHO, "error": "invalid_scope"}), AccessForbidden, "invalid_scope"),
        (httpx.Response(200, text=f"<html>Sign in, client-1 / {SECRET}</html>"), UnexpectedAnswer, "HTML page"),
        (httpx.Response(200, json={"token": SECRET}), UnexpectedAnswer, "JSON without an access_token"),
        (httpx.Response(200, text=f"client_secret={SECRET}"), UnexpectedAnswer, "not JSON"),
        (
            httpx.Response(302, headers={"Location": f"https://sso.example.net/?secret={SECRET}"}),
            SisRedirected,
            "--token-url",
        ),
    ],
)
async def test_a_token_endpoint_that_echoes_the_secret_never_shows_it(
    sis: StrictSIS, make_client: Make, answer: httpx.Response, error: type[OneRosterError], said: str
) -> None:
    sis.token_steps.append(answer)
    async with make_client() as client:
        with pytest.raises(error) as caught:
            await client.categories()
    exc = caught.value
    text = everything_shown(exc)
    assert SECRET not in text and BASIC not in text and "s3cret-VALUE" not in text
    assert said in str(exc) and "district d1" in str(exc) and exception_chain(exc) == [exc]
    assert sis.token_calls == 1 and not sis.api_requests()


# -- what a retry can help -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (TransientExhausted("x", district_id="d"), True),
        (SisUnreachable("x", district_id="d"), True),
        (CredentialsRejected("x", district_id="d"), False),
        (AccessForbidden("x", district_id="d"), False),
        (UnexpectedAnswer("x", district_id="d"), False),
        (SisRedirected("x", district_id="d"), False),
        (BoundExceeded("x", district_id="d"), False),
        (PaginationError("x", district_id="d"), False),
        (ValueError("a bug"), False),
    ],
)
def test_the_preflight_task_retries_what_the_error_says_a_retry_can_help(error: Exception, retriable: bool) -> None:
    from tasks.extract import _transient

    class State:
        def result(self, _sync: bool) -> None:
            raise error

    assert _transient(None, None, State()) is retriable
    assert getattr(pickle.loads(pickle.dumps(error)), "retriable", False) is retriable
