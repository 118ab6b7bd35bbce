"""The district client's asyncio transport (passback/oneroster/transport.py) against real sockets:
answers, a keep-alive connection the server closed, and the failures ``policy.classify`` names."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from passback.oneroster import OneRosterClient
from passback.oneroster.policy import classify
from passback.oneroster.transport import AsyncioBackend, asyncio_transport

LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4)


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
    async with httpx.AsyncClient(transport=asyncio_transport(verify=True, limits=LIMITS)) as http:
        yield http


def test_the_district_client_uses_the_asyncio_backend() -> None:
    client = OneRosterClient("HD1", "http://127.0.0.1:1/ims/oneroster/v1p1", "http://127.0.0.1:1/token", "id", "s")
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool._network_backend, AsyncioBackend)  # httpx/httpcore upgrades: keep this true


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
    transport = asyncio_transport(verify=True, limits=LIMITS)
    async with server, httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(0.3)) as http:
        with pytest.raises(httpx.ReadTimeout) as info:
            await http.get(f"http://127.0.0.1:{port}/")
    assert classify(info.value).reason == "timeout"
