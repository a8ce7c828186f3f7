"""The Test button's request keeps the stored Connection's endpoint (Airflow 3.3.2 sends port 0)."""

from __future__ import annotations

import asyncio
import json

import pytest

from lms_connectors.health.airflow_fixes import TestButtonPort, blank_port

UI_BODY = {"conn_type": "openclassrooms", "connection_id": "oc", "host": "", "password": "***", "port": 0}


def call(method: str, path: str, chunks: list[bytes]) -> tuple[bytes, dict]:
    seen = {}

    async def app(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen["body"], seen["headers"] = body, dict(scope["headers"])

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return messages.pop(0)

    async def send(message):
        raise AssertionError("the app answers, not the middleware")

    scope = {"type": "http", "method": method, "path": path, "headers": [(b"content-length", b"999")]}
    asyncio.run(TestButtonPort(app)(scope, receive, send))
    return seen["body"], seen["headers"]


def test_the_uis_port_0_reaches_the_api_as_no_port_whatever_the_chunking():
    raw = json.dumps(UI_BODY).encode()
    body, headers = call("POST", "/api/v2/connections/test", [raw[:10], raw[10:]])
    assert json.loads(body) == {**UI_BODY, "port": None}
    assert headers[b"content-length"] == str(len(body)).encode()


@pytest.mark.parametrize(
    ("method", "path", "doc"),
    [
        ("POST", "/api/v2/connections/test", {**UI_BODY, "port": 5432}),
        ("POST", "/api/v2/connections/test", {**UI_BODY, "port": False}),
        ("POST", "/api/v2/connections", UI_BODY),
        ("PATCH", "/api/v2/connections/test", UI_BODY),
    ],
)
def test_any_other_request_passes_unchanged(method, path, doc):
    raw = json.dumps(doc).encode()
    assert call(method, path, [raw])[0] == raw


@pytest.mark.parametrize("body", [b"", b"not json", b"[0]", b'{"port": "0"}'])
def test_a_body_that_is_not_the_uis_passes_unchanged(body):
    assert blank_port(body) == body
