"""Run the emulator's ASGI app under uvicorn on a pre-bound socket.

Binding the socket before uvicorn starts lets `--port 0` pick a free port and report the real
one before the first request can arrive. Printing is left to the CLI (`cli/emulator.py`).
"""

from __future__ import annotations

import secrets
import socket
from typing import Any


def generate_api_key() -> str:
    """A fresh random admin key."""
    return "emu_" + secrets.token_urlsafe(24)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 → a free port; read it from getsockname).

    Created with proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on an accepted connection only
    when the socket says it is TCP, and accepted sockets inherit the listening one's proto.
    Without it every small response waits for the client's delayed ACK (Nagle), ~40 ms per
    request on a kept-alive connection."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(app: Any, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve `app` on `sock` until interrupted (SIGINT / SIGTERM)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
