"""Hostile answers: what a SIS behind a login proxy, at a wrong URL, broken or malicious sends.

Switched on by the hostile knobs of :class:`passback.simulator.faults.FaultConfig` (see
``docs/simulator.md``, "Hostile faults"); applied by the middleware (writes, deliveries, control
characters), the token endpoint (HTML, echoed credentials) and the collection endpoints (endless
paging).  None of them ever stores a write it does not acknowledge as stored — except
``phantom``, which acknowledges a write and then undoes it, on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Send

from passback.simulator.errors import json_response
from passback.simulator.store import Store

LOGIN_HOST = "sso.login-gateway.invalid"
LOGIN_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Sign in to continue</h1>"
    b'<form method="post" action="https://' + LOGIN_HOST.encode() + b'/login"><input name="user">'
    b'<input name="password" type="password"><button>Sign in</button></form></body></html>'
)
CONTROLS = ("\x1b[2J\x1b[H\x1b[31m", "\x1b[0m\x07")  # clear screen, home, red ... reset, bell
_TABLES = {"lineItems": "line_item", "results": "result"}


def html_page(status: int = 200) -> Response:
    return Response(LOGIN_PAGE, status_code=status, media_type="text/html")


def foreign_json(path: str) -> Response:
    """200 with JSON of another shape: what another service (or an API gateway) answers."""
    return json_response({"status": "ok", "id": abs(hash(path)) % 10**9, "message": "saved"})


def redirect(path: str) -> Response:
    """307 to a login page on another host (an SSO gateway in front of the API)."""
    return Response(status_code=307, headers={"Location": f"https://{LOGIN_HOST}/login?next={path}"})


# -- phantom writes: acknowledged, then undone ----------------------------------------------------
def item_of(path: str) -> tuple[str, str] | None:
    """(table, sourcedId) of a gradebook item path (…/lineItems/{id}, …/results/{id})."""
    parts = path.rstrip("/").split("/")
    table = _TABLES.get(parts[-2]) if len(parts) >= 2 else None
    return (table, parts[-1]) if table else None


def snapshot(store: Store, tenant: str, path: str) -> tuple[str, str, tuple[Any, ...] | None] | None:
    """The stored row of the item a write targets (None inside: not stored yet)."""
    item = item_of(path)
    if item is None:
        return None
    table, sid = item
    row = store.db.execute(f"SELECT * FROM {table} WHERE tenant=? AND sid=?", (tenant, sid)).fetchone()
    return table, sid, row


def restore(store: Store, tenant: str, snap: tuple[str, str, tuple[Any, ...] | None] | None) -> None:
    """Put the item back as it was before the write (absent, or its old version)."""
    if snap is None:
        return
    table, sid, row = snap
    store.db.execute(f"DELETE FROM {table} WHERE tenant=? AND sid=?", (tenant, sid))
    if row is not None:
        store.db.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    store.invalidate(tenant)


# -- deliveries: a dripping or a huge body --------------------------------------------------------
async def _watch(receive: Receive, gone: asyncio.Event) -> None:
    """Set ``gone`` when the client disconnects (after the request body, receive() waits for it)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def deliver(
    kind: str, held: list[Message], send: Send, receive: Receive, *, interval_s: float, oversize_mb: float
) -> None:
    """Send the held answer ``drip`` (one byte per ``interval_s``) or ``oversize`` (padded with
    whitespace to ``oversize_mb``, streamed in 1 MB chunks), until the client goes away."""
    start = dict(held[0])
    body = b"".join(m.get("body", b"") for m in held[1:] if m["type"] == "http.response.body")
    gone = asyncio.Event()
    watcher = asyncio.create_task(_watch(receive, gone))
    try:
        if kind == "drip":
            await send(start)
            for i in range(len(body)):
                if gone.is_set():
                    return
                last = i == len(body) - 1
                await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": not last})
                if not last:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(gone.wait(), interval_s)
            if not body:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        start["headers"] = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": True})
        total, sent, chunk = int(oversize_mb * 2**20), len(body), b" " * 2**20
        while sent < total and not gone.is_set():
            n = min(len(chunk), total - sent)
            await send({"type": "http.response.body", "body": chunk[:n], "more_body": True})
            sent += n
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()


# -- control characters in error descriptions -----------------------------------------------------
def _poison(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: (
                f"{CONTROLS[0]}{v}{CONTROLS[1]}"
                if k.lower() in ("imsx_description", "error_description") and isinstance(v, str)
                else _poison(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_poison(v) for v in obj]
    return obj


def with_controls(send: Send) -> Send:
    """A send that puts ANSI escapes and BEL into the descriptions of JSON error bodies (status ≥ 400)."""
    held: list[Message] = []

    async def poisoned(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] < 400:
            held.clear()
            await send(message)
            return
        if message["type"] == "http.response.start":
            held.append(message)
            return
        if not held:
            await send(message)
            return
        held.append(message)
        if message.get("more_body", False):
            return
        body = b"".join(m.get("body", b"") for m in held[1:])
        try:  # noqa: SIM105
            body = json.dumps(_poison(json.loads(body)), ensure_ascii=False).encode()
        except ValueError:
            pass
        start = dict(held[0])
        start["headers"] = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        start["headers"].append((b"content-length", str(len(body)).encode()))
        held.clear()
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return poisoned


# -- the token endpoint ---------------------------------------------------------------------------
def echo_credentials(credentials: Callable[[], tuple[str, str]], authorization: str | None) -> Response:
    """200 with an OAuth error that repeats the credentials presented (a broken or malicious endpoint)."""
    try:
        client_id, secret = credentials()
    except Exception:  # noqa: BLE001 - no credentials presented: echo what there is
        client_id, secret = "", ""
    return json_response(
        {
            "error": "invalid_client",
            "client_id": client_id,
            "client_secret": secret,
            "error_description": f"client {client_id}:{secret} is not valid here "
            f"(Authorization: {authorization or ''})",
        }
    )


# -- collections that never end -------------------------------------------------------------------
def endless_page(
    request: Request,
    rows: list[dict[str, Any]],
    template: dict[str, Any] | None,
    limit: int,
    offset: int,
    *,
    lying_total: bool,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """This page filled up to ``limit`` with invented records, and headers that promise more:
    a ``next`` link (and no X-Total-Count), or an X-Total-Count two pages ahead of the reader."""
    base = template or {"sourcedId": "ghost", "status": "active", "title": "ghost"}
    invented = [{**base, "sourcedId": f"ghost-{offset + i}"} for i in range(len(rows), limit)]
    headers = {"Link": f'<{request.url.include_query_params(limit=limit, offset=offset + limit)}>; rel="next"'}
    if lying_total:
        headers["X-Total-Count"] = str(offset + 3 * limit)
    return rows + invented, headers
