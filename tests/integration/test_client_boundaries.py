"""Where every provider client may send its secrets, and how much one page may cost: over real HTTP."""

from __future__ import annotations

import json
import tracemalloc

import orjson
import pytest

from lms_connectors import providers
from lms_connectors.providers.http import page_memory_bound
from lms_connectors.rules.errors import ProviderResponseError
from tests.builders import FAST_RETRY, PROVIDERS
from tests.fakes import serve

pytestmark = pytest.mark.integration
SECRET = "client-secret-that-must-stay-home"
TOKEN = "bearer-token-that-must-stay-home"
TOKEN_BODY = orjson.dumps({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})


def client_of(provider_name: str, base_url: str, **extra: object):
    """The provider's client built from a Connection, as a task builds it."""
    from airflow.sdk import Connection

    provider = providers.get(provider_name)
    needed = {name: "org-1" for name in provider.connection_extras}
    fields = provider.connection(base_url, "client-1", SECRET, **needed, **extra)
    conn = Connection(
        conn_id=f"{provider_name}_fake",
        conn_type="http",
        login=fields["login"],
        password=fields["password"],
        extra=json.dumps(fields["extra"]),
    )
    return provider.client_from_connection(conn, retry=FAST_RETRY)


def is_token_request(method: str, path: str) -> bool:
    return method == "POST" and ("token" in path.lower())


@pytest.mark.parametrize("provider_name", [p for p in PROVIDERS if providers.get(p).credentials == "client"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirecting_token_endpoint_never_hands_the_secret_to_another_host(provider_name, status):
    with serve(lambda *_: (200, {"Content-Type": "application/json"}, TOKEN_BODY)) as other:
        with serve(lambda *_: (status, {"Location": f"{other.url}/token"}, b"")) as api:
            client = client_of(provider_name, api.url)
            with pytest.raises(ProviderResponseError, match=rf"answered {status}, a redirect to http://127\.0\.0\.1"):
                next(iter(client.iter_course_pages()))
        assert api.seen and is_token_request(api.seen[0].method, api.seen[0].path)
        assert other.seen == [], "the other host received a request"


@pytest.mark.parametrize("provider_name", PROVIDERS)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_data_request_redirected_to_another_origin_is_refused_without_the_token(provider_name, status):
    def api_answer(method, path, headers, body):
        if is_token_request(method, path):
            return 200, {"Content-Type": "application/json"}, TOKEN_BODY
        return status, {"Location": f"{other.url}/elsewhere"}, b""

    with serve(lambda *_: (200, {}, b"[]")) as other, serve(api_answer) as api:
        client = client_of(provider_name, api.url)
        with pytest.raises(ProviderResponseError, match=r"redirected \(\d+\) to another origin"):
            next(iter(client.iter_course_pages()))
        assert any(s.method == "GET" for s in api.seen)
    assert other.seen == []


def test_a_redirect_within_the_origin_is_followed_with_the_token():
    def answer(method, path, headers, body):
        if is_token_request(method, path):
            return 200, {}, TOKEN_BODY
        if path.startswith("/moved"):
            return 308, {"Location": "/here?x=1"}, b""
        return 200, {}, b'{"ok": true}'

    with serve(answer) as api:
        client = client_of("openclassrooms", api.url)
        body = client.get("/moved", {"q": "1"}, {}, lambda resp, raw: orjson.loads(raw))
        assert body == {"ok": True}
        followed = [s for s in api.seen if s.method == "GET"]
        assert [s.path for s in followed] == ["/moved?q=1", "/here?x=1"]
        assert followed[1].headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_a_page_of_twenty_million_empty_objects_is_refused_within_the_memory_bound(provider_name):
    records = b"[" + b",".join([b"{}"] * 20_000_000) + b"]"
    page = (
        b'{"paging":{"start":0,"count":100,"total":1},"elements":' + records + b"}"
        if provider_name == "linkedin_learning"
        else records
    )

    def answer(method, path, headers, body):
        if is_token_request(method, path):
            return 200, {}, TOKEN_BODY
        headers = {"Content-Type": "application/json", "Content-Range": "items 0-0/1", "x-total-count": "1"}
        return 200, headers, page

    with serve(answer) as api:
        client = client_of(provider_name, api.url)
        tracemalloc.start()
        try:
            with pytest.raises(ProviderResponseError, match="above max_page_values"):
                next(iter(client.iter_course_pages()))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # The page's own bytes are held by the test's server too: only the client's share is measured here.
    assert peak < page_memory_bound(), f"peak {peak / 2**20:.0f} MiB"
    assert peak < 3 * 64 * 2**20
