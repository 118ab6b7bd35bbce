"""The district client's transport (passback/oneroster/transport.py) against real sockets: answers,
a keep-alive connection the server closed, the failures ``policy.classify`` names, the pool's bound,
and a request cut off in the middle (its connection is never reused)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from passback.oneroster import OneRosterClient
from passback.oneroster.loop import Bounds, _TooLarge, exchange
from passback.oneroster.policy import classify
from passback.oneroster.transport import SisHttpClient, WireTransport


async def _serve(close_after_answer: bool, connections: list[int]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            body = await reader.readexactly(length)
            answer = b'{"echo": %d}' % len(body)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(answer)
            )
            writer.write(answer)
            await writer.drain()
            if close_after_answer:  # a server that drops idle keep-alive connections
                writer.close()
                return

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=WireTransport(max_connections=4)) as http:
        yield http


def test_the_district_client_sends_through_the_wire_transport() -> None:
    client = OneRosterClient("HD1", "http://127.0.0.1:1/ims/oneroster/v1p1", "http://127.0.0.1:1/token", "id", "s")
    assert isinstance(client._http, SisHttpClient) and isinstance(client._http.transport, WireTransport)


@pytest.mark.parametrize("closes", [False, True])
async def test_answers_on_kept_alive_and_on_closed_connections(client: httpx.AsyncClient, closes: bool) -> None:
    connections: list[int] = []
    server = await _serve(closes, connections)
    port = server.sockets[0].getsockname()[1]
    async with server:
        for n in range(5):
            response = await client.put(f"http://127.0.0.1:{port}/x", content=b"a" * n)
            assert response.status_code == 200 and response.json() == {"echo": n}
            await asyncio.sleep(0.01)  # lets the server's close reach the idle connection
    assert len(connections) == (5 if closes else 1)  # closed: a new connection each time, no error


async def test_a_refused_connection_is_connect(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError) as info:
        await client.get(f"http://127.0.0.1:{port}/")
    assert classify(info.value).reason == "connect"


async def test_tls_to_a_plain_server_is_tls(client: httpx.AsyncClient) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # a ClientHello, answered in plain HTTP (as a plain web server does)
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(f"https://127.0.0.1:{port}/")
    assert classify(info.value).reason == "tls"


async def test_an_unknown_host_is_dns(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ConnectError) as info:
        await client.get("http://no-such-host.invalid/")
    assert classify(info.value).reason == "dns"


async def test_a_silent_server_times_out_as_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = WireTransport(max_connections=4)
    async with server, httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(0.3)) as http:
        with pytest.raises(httpx.ReadTimeout) as info:
            await http.get(f"http://127.0.0.1:{port}/")
    assert classify(info.value).reason == "timeout"


async def _start(handle) -> tuple[asyncio.Server, str]:  # type: ignore[no-untyped-def]
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_no_more_requests_in_flight_than_connections_and_every_one_answered() -> None:
    in_flight: list[int] = [0, 0]  # now, most

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            await asyncio.sleep(0.05)
            in_flight[0] -= 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    server, url = await _start(slow)
    async with server, SisHttpClient(WireTransport(max_connections=2)) as http:
        answers = await asyncio.gather(*(http.get(f"{url}/{n}") for n in range(7)))
    assert [a.text for a in answers] == ["ok"] * 7
    assert in_flight[1] == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nok!!!",  # a body that ends with the connection
    ],
)
async def test_chunked_and_close_delimited_bodies(answer: bytes) -> None:
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(answer)
            await writer.drain()
            if b"connection: close" in answer:
                writer.close()
                return

    server, url = await _start(serve)
    async with server, SisHttpClient(WireTransport(max_connections=1)) as http:
        for _ in range(3):
            assert (await http.get(f"{url}/x")).text == "ok!!!"
    assert len(connections) == (3 if b"connection: close" in answer else 1)


async def test_a_request_cut_off_in_its_body_closes_its_connection_and_frees_its_slot() -> None:
    connections: list[int] = []

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while head := await reader.readuntil(b"\r\n\r\n"):
            if b"/drip" in head:  # a head and half a body, then nothing
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf!")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    server, url = await _start(drip)
    async with server, SisHttpClient(WireTransport(max_connections=1)) as http:
        response = await http.exchange(http.build_request("GET", f"{url}/drip"))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await response.aread()
        await response.aclose()
        # one slot: a leaked slot would hang here; the cut connection is not reused (its half body)
        async with asyncio.timeout(5):
            assert (await http.get(f"{url}/after")).text == "ok"
    assert len(connections) == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"", "dropped"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "dropped"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort", "dropped"),
    ],
)
async def test_no_answer_or_not_http_is_a_protocol_error(answer: bytes, reason: str) -> None:
    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server, url = await _start(bad)
    async with server, SisHttpClient(WireTransport(max_connections=1)) as http:
        with pytest.raises(httpx.RemoteProtocolError) as info:
            await http.get(f"{url}/x")
        assert classify(info.value).reason == reason


@pytest.mark.parametrize(
    ("answer", "reused"),
    [
        # an informational answer first: skipped, the final one is the answer
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", True),
        # a second answer nobody asked for: this one stands, the connection is not reused
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nno", False),
        # bytes that are not HTTP after a whole answer: the same
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok\x00\x01garbage", False),
        # an HTTP/1.0 answer without keep-alive
        (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", False),
    ],
)
async def test_informational_and_unasked_answers(answer: bytes, reused: bool) -> None:
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(answer)
                await writer.drain()

    server, url = await _start(serve)
    async with server, SisHttpClient(WireTransport(max_connections=1)) as http:
        for _ in range(3):
            assert (await http.get(f"{url}/x")).text == "ok"
    assert len(connections) == (1 if reused else 3)


async def test_a_head_larger_than_the_limit_is_a_protocol_error() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n" + b"x-filler: %s\r\n" % (b"a" * 1000) * 200)
        await writer.drain()
        await asyncio.sleep(5)

    server, url = await _start(huge)
    async with server, SisHttpClient(WireTransport(max_connections=1)) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="larger than"):
            await http.get(f"{url}/x")


async def test_a_streamed_request_body_is_sent_in_chunks() -> None:
    received: list[bytes] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        received.append(head + await reader.readuntil(b"0\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    server, url = await _start(echo)
    async with server, SisHttpClient(WireTransport(max_connections=1)) as http:
        assert (await http.post(f"{url}/x", content=parts())).status_code == 204
    assert received[0].lower().count(b"transfer-encoding: chunked") == 1
    assert received[0].endswith(b"\r\n\r\nb\r\nhello world\r\n0\r\n\r\n")


async def test_a_head_request_is_refused_rather_than_left_waiting_for_a_body() -> None:
    async with SisHttpClient(WireTransport(max_connections=1)) as http:
        with pytest.raises(httpx.UnsupportedProtocol, match="HEAD"):
            await http.exchange(http.build_request("HEAD", "http://127.0.0.1:1/x"))


async def test_a_header_with_a_line_break_is_never_sent() -> None:
    async with SisHttpClient(WireTransport(max_connections=1)) as http:
        request = http.build_request("GET", "http://127.0.0.1:1/x")
        request.headers["x-evil"] = "a\r\nx-injected: 1"  # httpx takes it as it is
        with pytest.raises(httpx.LocalProtocolError, match="line break"):
            await http.exchange(request)


@pytest.mark.parametrize(
    "url, params",
    [
        ("http://127.0.0.1:8765/t1/ims/oneroster/v1p1/results/0f8fad5b-d9cb-469f-a165-70867728950e", None),
        ("https://SIS.Example.org/ims/oneroster/v1p1/lineItems/a%2Fb%20c~d_e.f-g", None),
        ("https://sis.example.org:443/base%20path/lineItems/x", None),
        ("http://[::1]:9000/lineItems/x", None),
        ("https://bücher.example/lineItems/x", None),
        ("https://sis.example.org/lineItems/..", None),  # a dot segment: httpx's parser removes it
        ("https://sis.example.org/lineItems/a b", None),  # not encoded: httpx's parser encodes it
        ("https://sis.example.org/lineItems/x?y=1", None),
        ("https://sis.example.org/academicSessions", {"limit": 1, "offset": 0}),
    ],
)
def test_a_request_is_the_one_build_request_makes(url: str, params: dict[str, int] | None) -> None:
    """``request_for`` appends a write's last segment to its collection's URL parsed once; what it
    builds must be exactly what httpx's ``build_request`` builds (an httpx upgrade that changes the
    URL's private parts fails here first), and it must not keep the first request's segment."""
    http = SisHttpClient(WireTransport(), timeout=httpx.Timeout(5.0, read=None), headers={"User-Agent": "t"})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
    for target in (url, url + "0" if params is None and "?" not in url else url):
        ours = http.request_for("PUT", target, params=params, content=b'{"a": 1}', headers=headers)
        theirs = http.build_request("PUT", target, params=params, content=b'{"a": 1}', headers=headers)
        assert (ours.method, str(ours.url), ours.url.raw_path, ours.url.netloc) == (
            theirs.method,
            str(theirs.url),
            theirs.url.raw_path,
            theirs.url.netloc,
        )
        assert (ours.headers.raw, ours.content, ours.extensions) == (
            theirs.headers.raw,
            theirs.content,
            theirs.extensions,
        )


def test_a_request_carries_the_cookie_a_load_balancer_set() -> None:
    http = SisHttpClient(WireTransport())
    http.cookies.set("sticky", "node-2", domain="sis.example.org")
    request = http.request_for("PUT", "https://sis.example.org/lineItems/x", headers={})
    assert request.headers["cookie"] == "sticky=node-2"


@pytest.mark.parametrize("encoded", [False, True])
async def test_a_plain_answer_is_read_as_sent_and_an_encoded_one_decoded(encoded: bool) -> None:
    """The request loop reads a plain answer straight from the transport's stream, and one with a
    ``Content-Encoding`` (httpx asks for gzip) through httpx's decoder; both within the size bound."""
    sent = b'{"lineItem": {"sourcedId": "li-1"}}'
    body = gzip.compress(sent) if encoded else sent
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % len(body)
    answer = head + (b"content-encoding: gzip\r\n" if encoded else b"") + b"\r\n" + body

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(answer)
            await writer.drain()

    server, url = await _start(serve)
    async with server, SisHttpClient(WireTransport(max_connections=1)) as http:
        for _ in range(2):  # the connection is reused after either
            request = http.request_for("PUT", f"{url}/lineItems/li-1", content=b"{}", headers={})
            response = await exchange(http, request, Bounds(deadline_s=5.0))
            assert response.content == sent and response.json()["lineItem"]["sourcedId"] == "li-1"
        with pytest.raises(_TooLarge):
            await exchange(http, http.build_request("GET", f"{url}/x"), Bounds(deadline_s=5.0, max_bytes=len(sent) - 1))
