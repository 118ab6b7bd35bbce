"""The ASGI middleware in front of every tenant path (``/{T}/ims/oneroster/v1p1/...`` and
``/{T}/oauth/token``; ``/admin`` passes straight through): it applies the faults and records each
request in the telemetry.

Order per request: rate limit (gradebook writes only: 429 + ``Retry-After``), concurrency cap
(wait: the slot is held through the latency and any fault, not while the app serves), latency,
then one random draw — drop, hang or 5xx — applied before the request is processed or, with
``fault_phase="after"``, after it was (a write is stored, the answer is lost).
A request no such fault hit may still get a hostile answer (``hostile``): a write one more draw
(an HTML page, JSON of another shape, a redirect — none stored — or a phantom: acknowledged, then
undone), an API answer one more (a dripping or an oversized body).  With ``control_chars`` every
JSON error body's descriptions carry ANSI escapes and BEL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passback.simulator import hostile
from passback.simulator.errors import json_response, status_body
from passback.simulator.faults import retry_after_header
from passback.simulator.schema import API_PREFIX, TOKEN_SUFFIX
from passback.simulator.state import SimState
from passback.simulator.telemetry import RequestRecord

DROP_KEY = "passback.drop"  # scope key: a callable that closes the client connection (set by server.py)
RECORD_KEY = "passback.record"  # scope key: the RequestRecord of this request (handlers add the client id)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class SimMiddleware:
    def __init__(self, app: ASGIApp, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        tenant = path.split("/", 2)[1] if path.count("/") >= 2 else ""
        is_token = path.rstrip("/") == f"/{tenant}{TOKEN_SUFFIX}"
        if tenant in ("", "admin") or not (is_token or path.startswith(f"/{tenant}{API_PREFIX}/")):
            await self.app(scope, receive, send)
            return
        rec = RequestRecord(0, time.time(), tenant, scope["method"], path, None)
        token = self.sim.auth.peek(_header(scope, b"authorization"))
        if token is not None:
            rec.client_id, rec.token_tenant = token.client_id, token.tenant
            rec.token_tenant_matches = token.tenant == tenant
        scope[RECORD_KEY] = rec

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                rec.status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self._faulty(scope, receive, recording_send, rec, is_token)
        finally:
            rec.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            self.sim.telemetry.record(rec, is_token=is_token)

    async def _faulty(self, scope: Scope, receive: Receive, send: Send, rec: RequestRecord, is_token: bool) -> None:
        faults = self.sim.faults
        if faults.config.control_chars:
            send = hostile.with_controls(send)
        if not is_token and scope["method"] in ("PUT", "DELETE"):
            wait = faults.throttle(rec.tenant)
            if wait > 0:
                rec.fault = "throttled"
                body = status_body(
                    "server_busy", f"fault.rate_limited: too many gradebook writes; retry in {wait:.2f} s"
                )
                await json_response(body, 429, {"Retry-After": retry_after_header(wait)})(scope, receive, send)
                return
        gate = faults.gate
        began = await gate.acquire()
        in_service = True
        try:
            latency = faults.latency_s()
            if latency > 0:
                rec.fault = "latency"
                await asyncio.sleep(began + latency - asyncio.get_running_loop().time())
            fault = faults.draw()
            if fault is None:
                # the service time is the latency: the slot passes on at its end, and the simulator's
                # own routing, parsing and storing happen outside it (a machine's speed does not
                # change what a cap of N with latency L serves: N / L requests a second)
                in_service = False
                gate.release(at=began + latency)
                await self._served(scope, receive, send, rec, is_token)
                return
            rec.fault = fault
            held: list[Message] = []
            if faults.config.fault_phase == "after":
                await self.app(scope, receive, _holder(held))
            if fault == "drop":
                rec.status = None
                self._drop(scope)
                return
            if fault == "hang":
                if not held:  # take the body now: the client may be gone when the request is served
                    receive = await _buffered(receive)
                await asyncio.sleep(faults.config.hang_s)
                if held:
                    for message in held:
                        await send(message)
                else:
                    await self.app(scope, receive, send)
                return
            if fault == "throttle":
                body = status_body("server_busy", "fault.throttled: injected HTTP 429; retry after 1 s")
                await json_response(body, 429, {"Retry-After": "1"})(scope, receive, send)
                return
            status = faults.error_status()
            minor, token = (
                ("server_busy", "fault.unavailable")
                if status == 503
                else ("internal_server_error", "fault.server_error")
            )
            response: Response = json_response(status_body(minor, f"{token}: injected HTTP {status}"), status)
            await response(scope, receive, send)
        finally:
            if in_service:
                gate.release()

    async def _served(self, scope: Scope, receive: Receive, send: Send, rec: RequestRecord, is_token: bool) -> None:
        """A request no classic fault hit: a hostile answer when one is drawn, else the app's."""
        faults = self.sim.faults
        path = scope["path"]
        bad = faults.hostile_write() if not is_token and scope["method"] in ("PUT", "DELETE") else None
        if bad in ("html", "foreign_json", "redirect"):
            rec.fault = bad
            answer = {
                "html": hostile.html_page,
                "foreign_json": lambda: hostile.foreign_json(path),
                "redirect": lambda: hostile.redirect(path),
            }[bad]()
            await answer(scope, receive, send)
            return
        delivery = None if is_token else faults.delivery()
        if bad is None and delivery is None:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        snap = hostile.snapshot(self.sim.store, rec.tenant, path) if bad == "phantom" else None
        await self.app(scope, receive, _holder(held))
        if bad == "phantom":
            rec.fault = "phantom"
            hostile.restore(self.sim.store, rec.tenant, snap)  # before the answer: no one ever sees it stored
        if delivery is None:
            for message in held:
                await send(message)
            return
        rec.fault = delivery
        c = faults.config
        await hostile.deliver(delivery, held, send, receive, interval_s=c.drip_interval_s, oversize_mb=c.oversize_mb)

    @staticmethod
    def _drop(scope: Scope) -> None:
        drop: Callable[[], None] | None = scope.get(DROP_KEY)
        if drop is not None:
            drop()
            return
        # in-process (ASGI transport): no socket to close; the client sees the same exception type
        raise httpx.RemoteProtocolError("the simulator dropped the connection (fault injection)")


def _holder(held: list[Message]) -> Callable[[Message], Any]:
    async def hold(message: Message) -> None:
        held.append(message)

    return hold


async def _buffered(receive: Receive) -> Receive:
    """A receive that replays the whole request body read now (later calls go to the real receive)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    pending = iter(messages)

    async def replay() -> Message:
        for message in pending:
            return message
        return await receive()

    return replay
