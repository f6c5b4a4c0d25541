"""The pool's cheap liveness check (client/pool.py) against a real loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpcore
import httpx
import pytest

from adaptive_deploy.client import pool
from adaptive_deploy.client.transport import GraphQLTransport

RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n"
            b'{"data":{}}')


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter], list[int]]]:
    """An HTTP/1.1 server answering every request with `{"data":{}}`, keeping connections
    open; yields (base URL, open connections, connection count)."""
    writers: list[asyncio.StreamWriter] = []
    connections = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                await reader.readexactly(length)
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", writers, connections
    finally:
        srv.close()
        for w in writers:
            w.close()


def _backend(transport: GraphQLTransport) -> object:
    return transport._client._transport._pool._network_backend  # type: ignore[attr-defined]


async def test_the_cheap_check_is_installed_on_a_network_client() -> None:
    transport = GraphQLTransport("http://127.0.0.1:9", "key")
    try:
        assert isinstance(_backend(transport), pool._Backend)
    finally:
        await transport.aclose()


async def test_a_connection_the_server_closed_is_replaced(
    server: tuple[str, list[asyncio.StreamWriter], list[int]],
) -> None:
    url, writers, connections = server
    transport = GraphQLTransport(url, "key", max_retries=0)
    try:
        assert await transport.execute("{ x }", operation_name="A") == {}
        assert await transport.execute("{ x }", operation_name="B") == {}
        assert connections[0] == 1, "kept alive"
        writers[0].close()                         # the server hangs up an idle connection
        await asyncio.sleep(0.05)
        assert await transport.execute("{ x }", operation_name="C") == {}
        assert connections[0] == 2, "the closed one was seen readable and dropped"
    finally:
        await transport.aclose()


async def test_the_check_looks_the_socket_up_once(
    server: tuple[str, list[asyncio.StreamWriter], list[int]],
) -> None:
    url, _, _ = server
    lookups: list[str] = []

    class Counting(httpcore.AsyncNetworkStream):
        def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
            self.inner = inner

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return await self.inner.read(max_bytes, timeout)

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            await self.inner.write(buffer, timeout)

        async def aclose(self) -> None:
            await self.inner.aclose()

        def get_extra_info(self, info: str) -> object:
            lookups.append(info)
            return self.inner.get_extra_info(info)

    stream = pool._Stream(Counting(await httpcore.AnyIOBackend().connect_tcp(
        "127.0.0.1", int(url.rsplit(":", 1)[1]))))
    try:
        for _ in range(50):
            assert stream.get_extra_info("is_readable") is False
        assert lookups == ["socket"]
    finally:
        await stream.aclose()


def test_a_caller_supplied_transport_is_left_alone() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert pool.install(client) is False
