"""The district client's HTTP: httpx's client for building requests (base headers, cookies, the
per-step timeouts) and its types, and an HTTP/1.1 transport of our own — a small keep-alive
connection pool over asyncio streams, with h11 (the HTTP/1.1 state machine httpcore uses) reading
and writing each message.

Why (issue 16, ``bench/run.py load``): httpx's own transport sends each request through httpcore's
pool — a pool scan under a lock for each request and response event, per-connection state locks,
a response stream wrapped three times — and ``AsyncClient.send`` adds its auth, redirect, hook
and cookie layers and wraps the stream once more.  Together that cost more CPU per request than
everything passback does for a write; ``SisHttpClient.exchange`` with ``WireTransport`` costs
about half (README, "Benchmarks").  (passback sends its own auth, follows no redirect — a
redirect is an error it reports — and uses no hooks.)  Here a request takes a slot (a semaphore: at most
``max_connections`` requests in flight), an idle connection of its origin or a new one, writes
its message, and reads the answer's head; the body is read by the caller and the connection goes
back to the pool when the body ended cleanly and both sides may reuse it (h11 says so), otherwise
it is closed.  A connection found idle too long (``KEEPALIVE_S``), or whose peer closed it or sent
bytes nobody asked for, is not reused.

Failures are httpx's own exceptions, as httpx's transport raises them (``ConnectError``,
``ConnectTimeout``, ``ReadTimeout``, ``WriteError``, ``RemoteProtocolError``, ``PoolTimeout``...),
each chained from the OS or TLS error, so ``policy.classify`` reads DNS and TLS failures as before.
The timeouts are httpx's per-step ones (``request.extensions["timeout"]``): connect, read, write,
pool; the request loop bounds the whole exchange on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import h11
import httpx

READ_BYTES = 64 * 1024
MAX_HEAD_BYTES = 100 * 1024  # as httpcore: an answer's head larger than this is a protocol error
KEEPALIVE_S = 5.0  # httpx's default keep-alive expiry

Origin = tuple[str, str, int]


@contextlib.contextmanager
def _mapped(timeout_to: type[httpx.TransportError], error_to: type[httpx.TransportError]) -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:
        raise timeout_to(str(exc) or "timed out") from exc
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
        raise error_to(str(exc) or type(exc).__name__) from exc


async def _within(seconds: float | None, awaitable: Any) -> Any:
    if seconds is None:  # the loop's deadline bounds it: no timer per read or write
        return await awaitable
    async with asyncio.timeout(seconds):
        return await awaitable


class Connection:
    """One HTTP/1.1 connection: its streams and its h11 state."""

    def __init__(self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        """Idle, not expired, and the peer neither closed it nor sent anything unasked."""
        buffered = getattr(self.reader, "_buffer", b"")
        return now - self.idle_since < KEEPALIVE_S and not self.reader.at_eof() and not buffered

    async def send(self, request: httpx.Request, body: bytes, timeouts: dict[str, float | None]) -> h11.Response:
        """Write the request and read the head of its answer (1xx answers are skipped)."""
        message = self.h11.send(
            h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw)
        )
        if body:
            message += self.h11.send(h11.Data(data=body))
        message += self.h11.send(h11.EndOfMessage())
        with _mapped(httpx.WriteTimeout, httpx.WriteError):
            self.writer.write(message)
            await _within(timeouts.get("write"), self.writer.drain())
        while True:
            event = await self.next_event(timeouts.get("read"))
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):  # pragma: no cover - h11 sends nothing else first
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} before the answer's head")

    async def next_event(self, read_s: float | None) -> Any:
        with _mapped(httpx.ReadTimeout, httpx.ReadError):
            while True:
                event = self.h11.next_event()
                if event is not h11.NEED_DATA:
                    return event
                data = await _within(read_s, self.reader.read(READ_BYTES))
                if not data and self.h11.their_state is h11.SEND_RESPONSE:
                    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
                self.h11.receive_data(data)

    def close(self) -> None:
        """Close at once: a TLS close_notify is sent by the event loop, never awaited (a gone peer
        must not hang a request's end)."""
        self.writer.close()


class WireTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over ``Connection``s: at most ``max_connections`` requests in
    flight, each origin's idle connections kept for reuse."""

    def __init__(self, *, verify: bool | ssl.SSLContext = True, max_connections: int = 8) -> None:
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[Origin, list[Connection]] = {}
        self._busy: set[Connection] = set()

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """httpx's TLS context for ``verify`` (its CA bundle, ``SSL_CERT_FILE``...), made on the first
        https connection: a context loads the whole CA bundle, which a plain-http SIS never needs."""
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(verify=self._verify)
        return self._ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        with _mapped(httpx.PoolTimeout, httpx.PoolTimeout):
            await _within(timeouts.get("pool"), self._slots.acquire())
        connection: Connection | None = None
        try:
            connection = self._idle_connection(origin) or await self._connect(origin, timeouts.get("connect"))
            self._busy.add(connection)
            head = await connection.send(request, body, timeouts)
        except BaseException:
            self._done(connection)
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(self, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
            request=request,
        )

    def _idle_connection(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if connection.reusable(now):
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, connect_s: float | None) -> Connection:
        scheme, host, port = origin
        tls = self.ssl_context if scheme == "https" else None
        with _mapped(httpx.ConnectTimeout, httpx.ConnectError):
            reader, writer = await _within(
                connect_s,
                asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_BYTES),
            )
        return Connection(origin, reader, writer)

    def _done(self, connection: Connection | None) -> None:
        """The end of a request: its slot freed, and its connection back to the pool when both sides
        finished their message (h11 says so: not after a cut-off body or a ``Connection: close``)."""
        if connection is not None:
            self._busy.discard(connection)
            h = connection.h11
            if h.our_state is h11.DONE and h.their_state is h11.DONE:
                h.start_next_cycle()
                connection.idle_since = asyncio.get_running_loop().time()
                self._idle.setdefault(connection.origin, []).append(connection)
            else:
                connection.close()
        self._slots.release()

    async def aclose(self) -> None:
        for connection in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            connection.close()
        self._busy.clear()
        self._idle.clear()


class SisHttpClient(httpx.AsyncClient):
    """httpx's client whose ``exchange`` hands a built request straight to the transport."""

    def __init__(self, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self.transport = transport

    async def exchange(self, request: httpx.Request) -> httpx.Response:
        """Send a request made by ``build_request``; the answer's body is not read yet (stream it,
        then ``aclose``).  A cookie it sets goes to the jar (a load balancer's sticky cookie); the
        jar is not asked otherwise (``http.cookiejar`` costs two adapters and a URL parse)."""
        response = await self.transport.handle_async_request(request)
        response.request = request
        if "set-cookie" in response.headers:
            self.cookies.extract_cookies(response)
        return response


class _Body(httpx.AsyncByteStream):
    """An answer's body, read from its connection; closing it ends the request (once)."""

    def __init__(self, transport: WireTransport, connection: Connection, read_s: float | None) -> None:
        self._transport = transport
        self._connection: Connection | None = connection
        self._read_s = read_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise httpx.StreamClosed()
        while True:
            event = await connection.next_event(self._read_s)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:  # pragma: no cover - h11 sends Data then EndOfMessage, or raises
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} in the answer's body")

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._transport._done(connection)
