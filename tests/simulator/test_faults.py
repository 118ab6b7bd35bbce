"""Fault injection in-process (ASGI): latency, concurrency cap, rate limit, 5xx, drops, run-time changes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI

from passback.simulator.app import create_app
from passback.simulator.faults import ConcurrencyGate, FaultConfig, TokenBucket, retry_after_header
from tests.simulator.helpers import API, SECRETS, Api, get_token, line_item, status_of


async def timed(coro: object) -> float:
    started = time.perf_counter()
    await coro  # type: ignore[misc]
    return time.perf_counter() - started


async def test_latency_is_added_to_api_and_token_calls_but_not_admin(http: httpx.AsyncClient, api: Api) -> None:
    assert await timed(api.get("/classes")) < 0.1
    await http.post("/admin/faults", json={"latency_ms": 150})
    assert await timed(api.get("/classes")) >= 0.15
    assert (
        await timed(
            http.post("/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"]))
        )
        >= 0.15
    )
    assert await timed(http.get("/admin/health")) < 0.1
    await http.post("/admin/faults", json={"latency_ms": 0, "latency_jitter_ms": 100, "seed": 1})
    spent = [await timed(api.get("/classes")) for _ in range(5)]
    assert max(spent) < 0.2 and len({round(s, 3) for s in spent}) > 1


async def test_the_concurrency_cap_makes_requests_wait_their_turn(http: httpx.AsyncClient, api: Api) -> None:
    await http.post("/admin/faults", json={"latency_ms": 100})
    assert await timed(asyncio.gather(*(api.get("/classes") for _ in range(4)))) < 0.3
    await http.post("/admin/faults", json={"concurrency_cap": 1})
    responses: list[httpx.Response] = []

    async def call() -> None:
        responses.append(await api.get("/classes"))

    assert await timed(asyncio.gather(*(call() for _ in range(4)))) >= 0.4
    assert [r.status_code for r in responses] == [200] * 4  # waited, not refused
    await http.post("/admin/faults", json={"concurrency_cap": 2})
    assert 0.2 <= await timed(asyncio.gather(*(api.get("/classes") for _ in range(4)))) < 0.4


async def test_the_gate_passes_a_slot_on_when_its_service_ends_not_when_the_loop_gets_round_to_it() -> None:
    loop = asyncio.get_running_loop()
    gate = ConcurrencyGate(1)
    await gate.acquire()
    second, third = asyncio.ensure_future(gate.acquire()), asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0.01)
    assert not second.done() and not third.done() and gate.active == 1
    ended = loop.time()  # both are waiting, so both arrived before this (however loaded the machine)
    gate.release(at=ended)
    time.sleep(0.03)  # this process is busy elsewhere: the SIS's clock does not wait for it
    assert await second == ended  # its service began when the first one's ended
    assert not third.done()
    third.cancel()  # a request that goes away while waiting takes no slot with it
    with pytest.raises(asyncio.CancelledError):
        await third
    gate.release()
    assert gate.active == 0
    arrived = loop.time()
    assert await gate.acquire() >= arrived  # nobody waited: service begins on arrival


async def test_a_slot_handed_to_a_request_that_goes_away_passes_to_the_next_and_a_raised_cap_frees_waiters() -> None:
    gate = ConcurrencyGate(1)
    began = await gate.acquire()
    second, third = asyncio.ensure_future(gate.acquire()), asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    gate.release(at=began + 1.0)  # handed to the second...
    second.cancel()  # ...as it goes away
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await third == began + 1.0 and gate.active == 1
    waiting = [asyncio.ensure_future(gate.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set_cap(3)
    await asyncio.sleep(0)
    assert [w.done() for w in waiting] == [True, True, False] and gate.active == 3
    gate.set_cap(None)
    await asyncio.sleep(0)
    assert all(w.done() for w in waiting) and gate.active == 4


async def test_a_lowered_cap_holds_waiters_until_the_requests_in_service_are_below_it() -> None:
    gate = ConcurrencyGate(2)
    await gate.acquire()
    await gate.acquire()
    waiting = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    gate.set_cap(1)
    gate.release()  # 2 in service over a cap of 1: the slot is not passed on
    await asyncio.sleep(0)
    assert not waiting.done() and gate.active == 1
    gate.release()
    await waiting
    assert gate.active == 1


async def test_the_rate_limit_answers_429_with_retry_after_on_writes_only(http: httpx.AsyncClient, api: Api) -> None:
    await http.post("/admin/faults", json={"rate_limit_per_s": 0.25, "rate_burst": 2})
    codes = [(await api.put(f"/lineItems/li-{i}", line_item())).status_code for i in range(3)]
    assert codes == [201, 201, 429]
    r = await api.put("/lineItems/li-9", line_item())
    assert r.status_code == 429 and r.headers["retry-after"] == "4"  # 1 token / 0.25 per s, rounded up
    assert status_of(r)["imsx_description"].startswith("fault.rate_limited:")
    assert (await api.delete("/lineItems/li-0")).status_code == 429  # DELETE is a write too
    assert [(await api.get("/lineItems")).status_code for _ in range(5)] == [200] * 5  # reads are never limited
    stats = (await http.get("/admin/stats")).json()["tenants"]["d1"]
    assert stats["throttled_429"] == 3 and stats["puts"]["lineItem"] == {"201": 2, "429": 2}
    # each tenant has its own bucket
    d2 = Api(http, "d2", await get_token(http, "d2"))
    assert (await d2.put("/lineItems/li-0", line_item())).status_code == 201
    await http.post("/admin/faults", json={"rate_limit_per_s": None})
    assert (await api.put("/lineItems/li-5", line_item())).status_code == 201


def test_token_bucket_and_retry_after_arithmetic() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 1, clock=lambda: now[0])
    assert bucket.take() == 0.0 and bucket.take() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() == 0.0
    assert [retry_after_header(w) for w in (0.01, 0.5, 1.0, 1.2, 7.99)] == ["1", "1", "1", "2", "8"]


async def test_error_rate_answers_500_and_503_at_the_configured_share(http: httpx.AsyncClient, api: Api) -> None:
    await http.post("/admin/faults", json={"error_rate": 0.3, "seed": 7})
    codes = Counter([(await api.get("/classes")).status_code for _ in range(300)])
    assert set(codes) == {200, 500, 503}
    assert 60 <= codes[500] + codes[503] <= 120
    assert (await http.get("/admin/state", params={"tenant": "d1", "objects": "false"})).status_code == 200
    stats = (await http.get("/admin/stats")).json()["tenants"]["d1"]
    assert stats["server_errors_5xx"] == codes[500] + codes[503]
    await http.post("/admin/faults", json={"error_rate": 1})
    r = await http.post("/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"]))
    assert r.status_code in (500, 503)  # the token endpoint is faulted too


async def test_throttle_rate_answers_429_with_retry_after_at_random(http: httpx.AsyncClient, api: Api) -> None:
    await http.post("/admin/faults", json={"throttle_rate": 0.2, "seed": 3})
    answers = [await api.get("/classes") for _ in range(300)]
    throttled = [r for r in answers if r.status_code == 429]
    assert 30 <= len(throttled) <= 90 and {r.status_code for r in answers} == {200, 429}
    assert all(r.headers["Retry-After"] == "1" and "fault.throttled" in r.text for r in throttled)
    stats = (await http.get("/admin/stats")).json()["tenants"]["d1"]
    assert stats["throttled_429"] == len(throttled)


async def test_a_seed_makes_the_draws_reproducible(scenario: object) -> None:
    async def run() -> list[int]:
        app = create_app(scenario, faults=FaultConfig(error_rate=0.5, seed=42))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http:
            token = None
            while token is None:
                r = await http.post(
                    "/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"])
                )
                token = r.json().get("access_token") if r.status_code == 200 else None
            return [(await Api(http, "d1", token).get("/classes")).status_code for _ in range(40)]

    assert await run() == await run()


async def test_drop_in_process_raises_the_transport_error_a_real_client_would_see(
    http: httpx.AsyncClient, api: Api
) -> None:
    await http.post("/admin/faults", json={"drop_rate": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        await api.get("/classes")
    assert (await http.get("/admin/stats")).json()["tenants"]["d1"]["dropped"] == 1
    log = (await http.get("/admin/requests", params={"tenant": "d1"})).json()["requests"]
    assert (log[-1]["status"], log[-1]["fault"]) == (None, "drop")


async def test_faults_after_processing_store_the_write_but_lose_the_answer(http: httpx.AsyncClient, api: Api) -> None:
    await http.post("/admin/faults", json={"error_rate": 1, "fault_phase": "after"})
    r = await api.put("/lineItems/li-1", line_item())
    assert r.status_code in (500, 503)
    state = (await http.get("/admin/state", params={"tenant": "d1"})).json()
    assert [li["sourcedId"] for li in state["lineItems"]] == ["li-1"]
    await http.post("/admin/faults", json={"error_rate": 0})
    assert (await api.put("/lineItems/li-1", line_item())).status_code == 200  # the retry replaces: no duplicate


async def test_fault_config_reads_back_and_validates(http: httpx.AsyncClient) -> None:
    r = await http.post("/admin/faults", json={"latency_ms": 5, "concurrency_cap": 3})
    assert r.status_code == 200 and r.json()["latency_ms"] == 5 and r.json()["concurrency_cap"] == 3
    r = await http.post("/admin/faults", json={"error_rate": 0.1})
    assert r.json()["latency_ms"] == 5 and r.json()["error_rate"] == 0.1  # partial update keeps the rest
    assert (await http.get("/admin/faults")).json() == r.json()
    for bad in ({"error_rate": 2}, {"concurrency_cap": 0}, {"no_such_knob": 1}, {"latency_ms": -1}):
        assert (await http.post("/admin/faults", json=bad)).status_code == 422
    assert (await http.get("/admin/faults")).json() == r.json()


async def test_faults_given_at_creation(scenario: object) -> None:
    app: FastAPI = create_app(scenario, faults=FaultConfig(error_rate=1.0), token_lifetime_s=60)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http:
        r = await http.get(f"/d1{API}/classes")
        assert r.status_code in (500, 503)
        assert (await http.get("/admin/faults")).json()["error_rate"] == 1.0
