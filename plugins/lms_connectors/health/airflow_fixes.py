"""Fixes, in the API server, of Airflow bugs this product's users meet.

**The Test button of Admin > Connections** answers "Bad Request" for every Connection without a
port (every provider's type: its form hides the port) in Airflow 3.3.2: the UI sends ``port: 0``
(``Number(null)``), the API compares it with the stored NULL, decides the test points somewhere
else and refuses to reuse the stored secret. apache/airflow#73298 fixes it in the API, after
3.3.2. Here a root middleware gives the test request a blank port where the UI sent 0 (nothing
listens on port 0): with or without Airflow's fix, the test then uses the stored Connection.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

TEST_PATH = "/api/v2/connections/test"

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def blank_port(body: bytes) -> bytes:
    """The test request's body with ``port`` 0 as null; any other body unchanged."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if not isinstance(doc, dict) or doc.get("port") != 0 or isinstance(doc.get("port"), bool):
        return body
    return json.dumps({**doc, "port": None}).encode()


class TestButtonPort:
    """ASGI root middleware: :func:`blank_port` on ``POST /api/v2/connections/test``, nothing else."""

    __test__ = False  # a middleware, not a test class

    def __init__(self, app: Callable[[Message, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(TEST_PATH):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client left: nothing to test
            return
        await replay(self.app, scope, receive, send, blank_port(body))


async def read_body(receive: Receive) -> bytes | None:
    """A request's whole body, or None when the client left before sending it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def replay(app: Any, scope: Message, receive: Receive, send: Send, body: bytes) -> None:
    """Pass the request on to ``app`` with ``body``, already read, as its body."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
    delivered = False

    async def again() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    await app(scope, again, send)


async def refuse_or_pass(
    app: Any, scope: Message, receive: Receive, send: Send, refusal: Callable[[bytes], Awaitable[str | None]]
) -> None:
    """Read the request's body and answer 400 with ``refusal(body)`` when it gives a reason; else pass
    the request on to ``app`` with that body. A client that left before its body was sent gets nothing."""
    body = await read_body(receive)
    if body is None:
        return
    why = await refusal(body)
    if why is None:
        await replay(app, scope, receive, send, body)
        return
    await bad_request(send, why)


async def bad_request(send: Send, why: str) -> None:
    """Answer 400 with ``why`` as the detail, as Airflow's API answers a request it refuses."""
    answer = json.dumps({"detail": why}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": answer})
