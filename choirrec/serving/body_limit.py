"""An ASGI middleware that bounds a request body by the bytes actually received.

A ``Content-Length`` check alone lets a chunked body (``Transfer-Encoding: chunked``, no
declared length) of any size through. This reads the body as it arrives, answers 413 as soon
as it passes the limit (without reading the rest), and otherwise replays it to the app.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyLimit:
    def __init__(self, app: Callable, max_bytes: int, hint: str = ""):
        self.app, self.max_bytes, self.hint = app, max_bytes, hint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send, f"request body is {int(declared)} bytes")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return await self.app(scope, _replay(b"", receive, message), send)
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                return await self._reject(send, f"request body is over {self.max_bytes} bytes")
            chunks.append(body)
            more = message.get("more_body", False)
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _reject(self, send: Send, what: str) -> None:
        detail = {"detail": [{"loc": ["body"], "type": "too_large",
                              "msg": f"{what}; the limit is {self.max_bytes}{self.hint}"}]}
        payload = json.dumps(detail).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    """A ``receive`` that yields the buffered body once, then defers to the real one."""
    pending = [first or {"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()
    return replay
