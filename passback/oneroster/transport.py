"""The district client's HTTP: httpx's client for building requests (base headers, cookies, the
per-step timeouts) and its types, and an HTTP/1.1 transport of our own — a small keep-alive
connection pool over asyncio streams, with httptools (llhttp, the C parser of Node.js and of
uvicorn's fast protocol) reading each answer.

Why (issue 16, ``bench/run.py load``): httpx's own transport sends each request through httpcore's
pool — a pool scan under a lock for each request and response event, per-connection state locks,
a response stream wrapped three times — and ``AsyncClient.send`` adds its auth, redirect, hook
and cookie layers and wraps the stream once more.  Together that cost more CPU per request than
everything passback does for a write; ``SisHttpClient.exchange`` with ``WireTransport`` costs
about half (README, "Benchmarks").  Reading answers with h11 (the pure-Python state machine
httpcore uses) was then ~12 % of a write's client CPU; llhttp parses a head in microseconds.
(passback sends its own auth, follows no redirect — a redirect is an error it reports — and uses
no hooks.)  Here a request takes a slot (a semaphore: at most ``max_connections`` requests in
flight), an idle connection of its origin or a new one, writes its message, and reads the
answer's head; the body is read by the caller and the connection goes back to the pool when the
body ended cleanly and the answer allows keep-alive, otherwise it is closed.  A connection found
idle too long (``KEEPALIVE_S``), or whose peer closed it or sent bytes nobody asked for, is not
reused.

Failures are httpx's own exceptions, as httpx's transport raises them (``ConnectError``,
``ConnectTimeout``, ``ReadTimeout``, ``WriteError``, ``RemoteProtocolError``, ``PoolTimeout``...),
each chained from the OS, TLS or parser error, so ``policy.classify`` reads DNS and TLS failures
as before.  The timeouts are httpx's per-step ones (``request.extensions["timeout"]``): connect,
read, write, pool; the request loop bounds the whole exchange on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httptools
import httpx

READ_BYTES = 64 * 1024
MAX_HEAD_BYTES = 100 * 1024  # as httpcore: an answer's head larger than this is a protocol error
KEEPALIVE_S = 5.0  # httpx's default keep-alive expiry
# a last path segment appended as it is: unreserved characters and escapes, not a dot segment
_SEGMENT = re.compile(r"(?!\.{1,2}$)(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+")

Origin = tuple[str, str, int]


@contextlib.contextmanager
def _mapped(timeout_to: type[httpx.TransportError], error_to: type[httpx.TransportError]) -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:
        raise timeout_to(str(exc) or "timed out") from exc
    except httptools.HttpParserError as exc:
        raise httpx.RemoteProtocolError(f"the answer is not valid HTTP/1.1: {exc}") from exc
    except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
        raise error_to(str(exc) or type(exc).__name__) from exc


async def _within(seconds: float | None, awaitable: Any) -> Any:
    if seconds is None:  # the loop's deadline bounds it: no timer per read or write
        return await awaitable
    async with asyncio.timeout(seconds):
        return await awaitable


def _request_bytes(request: httpx.Request, body: bytes) -> bytes:
    """The request's message: its line, httpx's headers (Host, Content-Length... as httpx built
    them) and its body, chunked when httpx announced chunks (a streamed body, read whole here)."""
    headers = request.headers.raw
    if any(b"\r" in name + value or b"\n" in name + value for name, value in headers):
        raise httpx.LocalProtocolError("a request header holds a line break")
    head = b"".join([
        request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n",
        *(b"%s: %s\r\n" % pair for pair in headers),
        b"\r\n",
    ])  # fmt: skip
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return head + body


class _Answer:
    """One answer as the parser saw it: head, body chunks not yet handed out, and whether it ended."""

    __slots__ = ("body", "close_delimited", "complete", "headers", "keep_alive", "reason", "status")

    def __init__(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.close_delimited = False  # neither a length nor chunks: the body ends with the connection
        self.keep_alive = False
        self.body: list[bytes] = []
        self.complete = False


class Connection:
    """One HTTP/1.1 connection: its streams, its parser, and the answers the parser has seen."""

    def __init__(self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._answers: list[_Answer] = []  # this request's: 1xx answers, then the final one
        self._answer: _Answer | None = None  # the final answer, once its head is in (set by the parser)
        self._head_bytes = 0
        self._eof = False

    # -- the parser's callbacks (names as httptools calls them) ------------------------------------

    def on_message_begin(self) -> None:
        self._answers.append(_Answer())

    def on_status(self, status: bytes) -> None:
        self._answers[-1].reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._answers[-1].headers.append((name, value))

    def on_headers_complete(self) -> None:
        answer = self._answers[-1]
        answer.status = self._parser.get_status_code()
        answer.keep_alive = self._parser.should_keep_alive()
        if answer.status >= 200 or answer.status == 101:  # the final answer (1xx ones are skipped)
            if self._answer is None:
                self._answer = answer
            answer.close_delimited = answer.status not in (204, 304) and not any(
                name.lower() in (b"content-length", b"transfer-encoding") for name, _ in answer.headers
            )

    def on_body(self, body: bytes) -> None:
        self._answers[-1].body.append(body)

    def on_message_complete(self) -> None:
        self._answers[-1].complete = True

    # -- the exchange ------------------------------------------------------------------------------

    def reusable(self, now: float) -> bool:
        """Idle, not expired, and the peer neither closed it nor sent anything unasked."""
        buffered = getattr(self.reader, "_buffer", b"")
        return now - self.idle_since < KEEPALIVE_S and not self.reader.at_eof() and not buffered

    def finished_cleanly(self) -> bool:
        """The final answer ended, allows keep-alive, and nothing came after it."""
        answer = self._answer
        return (
            answer is not None
            and answer.complete
            and answer.keep_alive
            and not answer.close_delimited
            and self._answers[-1] is answer
            and not self._eof
        )

    def next_cycle(self) -> None:
        self._answers.clear()
        self._answer = None
        self._head_bytes = 0

    async def send(self, message: bytes, timeouts: dict[str, float | None]) -> _Answer:
        """Write a request's message and read the head of its answer (1xx answers are skipped)."""
        with _mapped(httpx.WriteTimeout, httpx.WriteError):
            self.writer.write(message)
            await _within(timeouts.get("write"), self.writer.drain())
        read_s = timeouts.get("read")
        while self._answer is None:
            if self._head_bytes > MAX_HEAD_BYTES:
                raise httpx.RemoteProtocolError(f"the answer's head is larger than {MAX_HEAD_BYTES} bytes")
            data = await self._read(read_s)
            if not data:
                if not self._answers:
                    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
                raise httpx.RemoteProtocolError("the server closed the connection in the middle of the answer's head")
            self._head_bytes += len(data)
        if self._answer.status == 101:
            raise httpx.RemoteProtocolError("the server switched protocols, which nobody asked for")
        return self._answer

    async def body_chunk(self, read_s: float | None) -> bytes | None:
        """The next piece of the final answer's body, or None at its end."""
        answer = self._answer
        assert answer is not None
        while not answer.body:
            if answer.complete:
                return None
            if not await self._read(read_s):
                if answer.close_delimited:
                    answer.complete = True
                    return None
                raise httpx.RemoteProtocolError(
                    "the server closed the connection before the answer's body was complete"
                )
        return answer.body.pop(0)

    async def _read(self, read_s: float | None) -> bytes:
        """Read what the peer sent and feed it to the parser (b"" at the end of the connection)."""
        with _mapped(httpx.ReadTimeout, httpx.ReadError):
            data = await _within(read_s, self.reader.read(READ_BYTES))
            if not data:
                self._eof = True
                return data
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError:
                if self._answer is None or not self._answer.complete:
                    raise
                self._eof = True  # garbage after a whole answer: the answer stands, the connection goes
            return data

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
        if request.method == "HEAD":  # its answer announces a body it does not send: never needed here
            raise httpx.UnsupportedProtocol("the district client's transport sends no HEAD requests")
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        message = _request_bytes(request, body)
        with _mapped(httpx.PoolTimeout, httpx.PoolTimeout):
            await _within(timeouts.get("pool"), self._slots.acquire())
        connection: Connection | None = None
        try:
            connection = self._idle_connection(origin) or await self._connect(origin, timeouts.get("connect"))
            self._busy.add(connection)
            head = await connection.send(message, timeouts)
        except BaseException:
            self._done(connection)
            raise
        return httpx.Response(
            head.status,
            headers=head.headers,
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
        finished their message (not after a cut-off body, a ``Connection: close`` or unasked bytes)."""
        if connection is not None:
            self._busy.discard(connection)
            if connection.finished_cleanly():
                connection.next_cycle()
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
        self._parents: dict[str, httpx.URL] = {}  # a collection's URL, parsed once
        self._timeouts = self.timeout.as_dict()

    def request_for(
        self, method: str, url: str, *, params: Any = None, content: bytes | None = None, headers: dict[str, str]
    ) -> httpx.Request:
        """``build_request(method, url, params=..., content=..., headers=...)``, the same request
        (tests/client/test_transport.py compares them), without parsing the whole URL again for
        each one.  A write's URL is its collection's plus one segment ``quote`` encoded; httpx's
        parser (percent-encoding, IDNA, IP addresses) is ~45 % of building a request, per write.
        The collection's URL is parsed once, by httpx, and the segment appended as it is (it can only
        hold unreserved characters and escapes).  Anything else — query parameters, a cookie to
        send, any other last segment — goes through ``build_request``.  (The URL's parts are
        httpx 0.28's private ``_uri_reference``: httpx is pinned, and that test fails first.)"""
        parent_url, _, segment = url.rpartition("/")
        if params or self.cookies or not _SEGMENT.fullmatch(segment) or "?" in url or "#" in url:
            return self.build_request(method, url, params=params, content=content, headers=headers)
        parent = self._parents.get(parent_url)
        if parent is None:
            if len(self._parents) >= 64:  # a few collections per district; never grows without end
                self._parents.clear()
            parent = self._parents[parent_url] = self._merge_url(parent_url)
        target = httpx.URL(parent)
        parts = parent._uri_reference
        target._uri_reference = parts._replace(path=f"{parts.path}/{segment}")
        merged = self.headers.copy()
        merged.update(headers)
        return httpx.Request(method, target, headers=merged, content=content, extensions={"timeout": self._timeouts})

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
        while (chunk := await connection.body_chunk(self._read_s)) is not None:
            yield chunk

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._transport._done(connection)
