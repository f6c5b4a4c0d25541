"""A misbehaving HTTP proxy in front of an emulator, for the hostile corpus.

It forwards `POST /api/graphql` to the emulator, except where a rule for the request's
`operationName` says otherwise:

    proxy.hold("CreateJob", 3.0)          forward only after 3 s (the client gave up at its
                                          timeout; the platform still completes the request)
    proxy.answer("ListJobs", fn)          answer with fn(body) instead of forwarding
    proxy.patch("ReadLive", fn)           forward, then answer fn(body, upstream response)

It runs uvicorn in a thread on a free loopback port; `calls` counts requests by operation.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

Answer = Callable[[dict[str, Any]], tuple[int, Any]]
Patch = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.holds: dict[str, float] = {}
        self.answers: dict[str, Answer] = {}
        self.patches: dict[str, Patch] = {}
        self.calls: Counter[str] = Counter()
        self._pending: set[asyncio.Task[Any]] = set()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="error", lifespan="off", interface="asgi3")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [sock]}, daemon=True)

    # -- rules -------------------------------------------------------------------------------

    def hold(self, operation: str, seconds: float) -> None:
        self.holds[operation] = seconds

    def answer(self, operation: str, fn: Answer) -> None:
        self.answers[operation] = fn

    def patch(self, operation: str, fn: Patch) -> None:
        self.patches[operation] = fn

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Proxy:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test proxy did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)
        self._socket.close()

    # -- ASGI --------------------------------------------------------------------------------

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k.lower() in (b"authorization", b"content-type")}
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        op = str(doc.get("operationName") or "") if isinstance(doc, dict) else ""
        self.calls[op] += 1
        if op in self.answers:
            status, payload = self.answers[op](doc)
            await self._send(send, status, json.dumps(payload).encode())
            return
        delay = self.holds.get(op, 0.0)
        # Forwarded in a task of its own: it completes on the platform even when the client
        # has hung up (which is the point of a hold).
        task = asyncio.ensure_future(self._forward(scope, body, headers, delay))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        status, content = await asyncio.shield(task)
        if op in self.patches and status == 200:
            content = json.dumps(self.patches[op](doc, json.loads(content))).encode()
        await self._send(send, status, content)

    async def _forward(self, scope: dict[str, Any], body: bytes, headers: dict[str, str],
                       delay: float) -> tuple[int, bytes]:
        if delay:
            await asyncio.sleep(delay)
        url = self.upstream + scope["path"]
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.request(scope["method"], url, content=body, headers=headers)
        return response.status_code, response.content

    @staticmethod
    async def _send(send: Any, status: int, content: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})
