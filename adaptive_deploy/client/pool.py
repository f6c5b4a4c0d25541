"""A cheaper liveness check for httpx's connection pool.

Before it hands a request to a pooled connection, httpcore asks every idle connection whether
its server hung up: `stream.get_extra_info("is_readable")`. On anyio's stream each such call
rebuilds the stream's whole attribute table (a `getpeername` system call and a dozen lambdas)
to find the socket, and at `--parallelism 16` that happens ~35 times per request: the larger
part of the client's CPU spent on pool bookkeeping. `install(client)` wraps the pool's network
backend so each stream looks its socket up once and the check is one `poll(0)`, exactly the
check httpcore makes. Everything else is passed through unchanged. When the installed httpx
does not have the shape this relies on, nothing is changed.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = None
        self._looked_up = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if not self._looked_up:
                self._socket = self._inner.get_extra_info("socket")
                self._looked_up = True
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket | None) -> bool:
    """httpcore's `is_socket_readable`: readable (data or EOF) means the server hung up or
    sent something unasked; no socket to look at counts as readable, so the connection is
    dropped rather than trusted."""
    if sock is None:
        return True
    fd = sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):   # Windows
        ready, _, _ = select.select([fd], [], [], 0)
        return bool(ready)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self.inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self.inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options))

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def install(client: httpx.AsyncClient) -> bool:
    """Wrap the network backend of `client`'s default connection pool (and of its proxy
    mounts); True when it was installed. A transport given by the caller (ASGI, mock) has no
    pool and is left alone."""
    transports = [getattr(client, "_transport", None),
                  *getattr(client, "_mounts", {}).values()]
    installed = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(
                backend, httpcore.AsyncNetworkBackend) and not isinstance(backend, _Backend):
            pool._network_backend = _Backend(backend)
            installed = True
    return installed
