"""The emulator's listening socket (`emulator/serve.py`)."""

from __future__ import annotations

import asyncio
import socket

from adaptive_deploy.emulator.serve import bind_socket


async def test_accepted_connections_have_tcp_nodelay() -> None:
    """uvicorn serves the socket through asyncio, which sets TCP_NODELAY on an accepted
    connection only when the listening socket was created as IPPROTO_TCP. Without it each
    small response of a kept-alive connection waits ~40 ms for the client's delayed ACK."""
    sock = bind_socket("127.0.0.1", 0)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=sock)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        assert await asyncio.wait_for(accepted, 10) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
