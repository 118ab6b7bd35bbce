"""The district client's httpx client: a SIS's cookie still round-trips, and only the per-step
timeouts the request deadline already covers are dropped."""

from __future__ import annotations

import httpx

from passback.oneroster import OneRosterClient
from passback.oneroster.client import per_step_timeout

BASE = "https://sis.example/ims/oneroster/v1p1"
TOKEN = "https://sis.example/token"


async def test_a_sticky_cookie_set_by_the_sis_is_sent_back_and_answers_without_one_leave_the_jar_alone() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 3600})
        seen.append(request.headers.get("cookie"))
        if len(seen) == 1:
            return httpx.Response(200, json={"categories": []}, headers={"set-cookie": "AWSALB=node-7; Path=/"})
        return httpx.Response(200, json={"categories": []})

    async with OneRosterClient("d1", BASE, TOKEN, "id", "s", transport=httpx.MockTransport(handler)) as client:
        for _ in range(3):
            await client.categories()
        assert dict(client._http.cookies) == {"AWSALB": "node-7"}
    assert seen == [None, "AWSALB=node-7", "AWSALB=node-7"]


def test_per_step_timeouts_no_shorter_than_the_deadline_are_dropped_shorter_ones_and_connect_kept() -> None:
    assert per_step_timeout(httpx.Timeout(30.0, connect=5.0), 30.0) == httpx.Timeout(
        None, connect=5.0, read=None, write=None, pool=None
    )
    assert per_step_timeout(httpx.Timeout(2.0, connect=1.0), 10.0) == httpx.Timeout(2.0, connect=1.0)
    assert per_step_timeout(httpx.Timeout(5.0, connect=2.0, read=0.5), 1.0) == httpx.Timeout(
        None, connect=2.0, read=0.5
    )
