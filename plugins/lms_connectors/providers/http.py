"""The HTTP machinery every provider client shares.

OAuth2 client credentials with a cached token (renewed when a call answers
401: one token request for every call waiting on it), bounded retries (tenacity) with exponential backoff and
jitter that honour ``Retry-After`` (across every request of the client: one
``429`` holds the concurrent ones too), an overall deadline and a size cap per
request (a server that trickles its answer cannot hold a task), and a hook
(``check``) run on every answer inside the retry loop, so that a malformed
body or a page that does not match its request is asked again.

Where secrets may go: every endpoint is https (plain http only for loopback
addresses, or hosts a Connection names in ``plain_http_hosts``); the token
request follows no redirect, and a data request follows redirects within its
own origin only, so neither the client secret nor the bearer token is ever
sent to another host. A page's JSON values are counted in its bytes before
any record is built (``max_page_values``), so one page of tiny elements cannot
take more memory than a documented bound.

A provider's client subclasses :class:`OAuthClient`: it says how to ask for a
token (:meth:`OAuthClient.token_request`), or that its token is static, and how
to read its pages. Secrets
never appear in logs, reprs or exceptions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson
import requests
import tenacity
import urllib3

from lms_connectors.rules.errors import (
    ConnectionConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderForbiddenError,
    ProviderPagingError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from lms_connectors.rules.jsonpage import PageDecodeError, decode_array

log = logging.getLogger(__name__)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# JSON values a page may hold (records, members, array elements): a decoded value
# costs at most about 110 bytes of Python objects beside its text (an empty object,
# measured with tracemalloc), however few bytes it takes in the body.
MAX_PAGE_VALUES = 2_000_000
VALUE_BYTES = 110
MAX_RESPONSE_BYTES = 64 * 2**20
# Requests one client may have in flight (a listing's pages asked ahead: providers.paging).
MAX_CONCURRENT_REQUESTS = 16


def page_memory_bound(max_response_bytes: int = MAX_RESPONSE_BYTES, max_page_values: int = MAX_PAGE_VALUES) -> int:
    """The most memory one page takes: its body twice while it is joined, or once beside
    what it decodes to (its text again, and VALUE_BYTES per value). About 350 MB by default."""
    return 2 * max_response_bytes + VALUE_BYTES * max_page_values


class RateGate:
    """Where a provider's ``429``/``Retry-After`` holds every request of one client, not only the one it
    answered: a request sent while the gate is held waits until it opens. A thread that already waited
    for a hold (its own retry, which honours ``Retry-After``) is not held twice for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._local = threading.local()

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def waited(self) -> None:
        """This thread is about to wait for the current hold (its own retry's wait)."""
        self._local.until = self._until

    def wait(self, sleep: Callable[[float], None]) -> float:
        """Wait (with ``sleep``) until the gate opens; the seconds waited."""
        until = self._until
        if until <= getattr(self._local, "until", 0.0):
            return 0.0
        self._local.until = until
        left = until - time.monotonic()
        if left <= 0:
            return 0.0
        sleep(left)
        return left


class Abandoned(Exception):
    """A request given up before an attempt because its reader has stopped."""


class TransientError(Exception):
    """A failed attempt worth repeating; ``final`` is what to raise once the attempts run out."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        final: type[ProviderError] = ProviderUnavailableError,
        *,
        unprocessed: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.final = final
        # The server surely did nothing with the request (refused by rate limit, or never reached):
        # even a request that is not idempotent may be sent again.
        self.unprocessed = unprocessed


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop: attempts, waits and total time."""

    max_attempts: int = 8
    initial_wait: float = 1.0
    max_wait: float = 60.0
    jitter: float = 1.0
    max_retry_after: float = 120.0
    max_total_seconds: float = 900.0
    # One request, from sending it to the last byte of its body.
    max_request_seconds: float = 120.0


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        # HTTP dates are allowed by RFC 9110; providers send seconds, but
        # do not fail on the other form.
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def token_lifetime(expires_in: float, date: str | None, now: dt.datetime | None = None) -> float:
    """Seconds a token has left: ``expires_in`` counts from the moment the server answered (its
    ``Date`` header), not from when the answer arrived; never more than ``expires_in``."""
    from email.utils import parsedate_to_datetime

    if not date:
        return expires_in
    try:
        issued = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return expires_in
    if issued.tzinfo is None:
        return expires_in
    left = (issued - (now or dt.datetime.now(dt.UTC))).total_seconds() + expires_in
    return max(0.0, min(expires_in, left))


def url_path(url: str) -> str:
    """The URL without its query string, which may be long and is never needed in errors."""
    return url.split("?", 1)[0]


def origin(url: str) -> str:
    """scheme://host:port of a URL (the default port written out), what same-origin compares."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: where the simulators listen."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, what: str, plain_http_hosts: frozenset[str] = frozenset()) -> None:
    """An endpoint the client may send credentials to: https, with a host and no userinfo;
    plain http only for loopback addresses and the hosts of ``plain_http_hosts``."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("https", "http") or not host:
        raise ConnectionConfigError(f"{what} must be an absolute https URL, got {url_path(url)!r}")
    if parts.username is not None or parts.password is not None:
        raise ConnectionConfigError(f"{what} must not carry a user name or password in the URL")
    if parts.scheme.lower() == "http" and not (is_loopback(host) or host.lower() in plain_http_hosts):
        raise ConnectionConfigError(
            f"{what} must be https ({url_path(url)!r} is plain http); plain http is allowed only for "
            "loopback addresses or for a host named in the Connection's extra plain_http_hosts"
        )


def json_or_none(body: bytes) -> Any:
    """The JSON document of a body, or None when it is not JSON (an error page, a cut answer)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def error_member(body: bytes, *names: str, limit: int = 80) -> str | None:
    """The first of ``names`` a JSON error body has, cut to ``limit`` characters (it goes into our
    messages: a hostile body must not flood them)."""
    doc = json_or_none(body)
    if not isinstance(doc, dict):
        return None
    value = next((doc[n] for n in names if doc.get(n)), None)
    return str(value)[:limit] if value is not None else None


def error_code(body: bytes) -> str | None:
    """The ``error`` (or ``code``) member of a JSON error body, if any."""
    return error_member(body, "error", "code")


def error_message(body: bytes) -> str:
    """The ``message`` of a JSON error body, for an error of ours."""
    return error_member(body, "message", limit=200) or "no message"


class OAuthClient:
    """Requests with a bearer token, retried and bounded. The token comes from OAuth2 client
    credentials (:meth:`token_request`), or is the Connection's secret itself when the provider
    gives a static service-account token (``STATIC_TOKEN``): it is then never refreshed, and a 401
    fails at once."""

    # Answers a data call may give besides errors; a provider adds its own (416 for Range paging).
    OK_STATUS: frozenset[int] = frozenset({200, 206})
    STATIC_TOKEN: bool = False

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        source: str,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_page_values: int = MAX_PAGE_VALUES,
        plain_http_hosts: frozenset[str] = frozenset(),
        concurrent_requests: int = 1,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if not 1 <= concurrent_requests <= MAX_CONCURRENT_REQUESTS:
            raise ConnectionConfigError(
                f"{source}: concurrent_requests must be between 1 and {MAX_CONCURRENT_REQUESTS}, "
                f"got {concurrent_requests}"
            )
        self.plain_http_hosts = frozenset(h.lower() for h in plain_http_hosts)
        check_endpoint(base_url, f"{source}: base_url", self.plain_http_hosts)
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self.concurrent_requests = concurrent_requests
        self._session = session or _session(concurrent_requests)
        self._sleep = sleep
        self._source = source
        self.max_response_bytes = max_response_bytes
        self.max_page_values = max_page_values
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._gate = RateGate()
        self.stats = {"requests": 0, "retries": 0, "token_fetches": 0, "pages": 0, "rate_limit_waits": 0}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, client_id={self.client_id!r})"

    def count(self, stat: str) -> None:
        """One more of ``stat`` (requests run in several threads when a listing is read ahead)."""
        with self._stats_lock:
            self.stats[stat] += 1

    @property
    def source(self) -> str:
        """The provider and Connection, as errors and logs name them."""
        return self._source

    def page_fault(self, what: str, problem: str) -> TransientError:
        """A page to ask again; once the attempts run out, a ProviderPagingError saying ``problem``."""
        return TransientError(f"{self._source} {what}: {problem}", final=ProviderPagingError)

    # --- what a provider says ---------------------------------------------
    def token_request(self) -> tuple[str, dict[str, Any]]:
        """The URL (absolute, or a path under base_url) and ``requests`` arguments of a token request."""
        raise NotImplementedError

    def forbidden_message(self) -> str:
        return f"{self._source}: client {self.client_id!r} has no access (403)"

    def decode_page(
        self, resp: requests.Response, body: bytes, what: str, array_key: str | None = None
    ) -> tuple[list[Any], dict[str, Any]]:
        """A page's records (``jsonpage.decode_array``: one undecodable record is isolated) and its
        other members; malformed JSON is asked again (bounded), then fails the extract."""
        try:
            return decode_array(body, array_key) if array_key else decode_array(body)
        except PageDecodeError as exc:
            raise TransientError(
                f"{self._source} {what}: malformed JSON in the response to {resp.request.method} "
                f"{url_path(resp.url)} ({exc})",
                final=ProviderResponseError,
            ) from None

    # --- requests ---------------------------------------------------------
    def get(
        self,
        path: str,
        params: dict[str, Any],
        headers: dict[str, str],
        check: Callable[[requests.Response, bytes], Any],
        abandoned: threading.Event | None = None,
    ) -> Any:
        """One logical GET: transient failures retried (bounded), the token refreshed on 401,
        and ``check`` run on every answer inside the retry loop (it raises TransientError to ask again).
        Once ``abandoned`` is set, no attempt starts (:class:`Abandoned`): a page asked ahead for a
        reader that has stopped."""
        return self.request("GET", path, check, abandoned, params=params, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        check: Callable[[requests.Response, bytes], Any],
        abandoned: threading.Event | None = None,
        *,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One logical request (``requests`` arguments: params, headers, json), retried like :meth:`get`.
        A request that is not ``idempotent`` (one that creates something) is sent again only when the
        server surely did nothing with it (a 429, a connection never made): after a 5xx or a lost
        answer it may have acted, and a second one would act twice."""

        def attempt() -> Any:
            if abandoned is not None and abandoned.is_set():
                raise Abandoned(f"{self._source}: {method} {url_path(path)} is no longer needed")
            token, resp, body = self._authorized(method, path, kwargs)
            renewals = 0
            # A refresh on an expired or revoked token, then the call again; one per concurrent
            # request, which may each have used up a renewed token before this one could.
            while resp.status_code == 401 and not self.STATIC_TOKEN and renewals < self.concurrent_requests:
                self._drop_token(token)
                renewals += 1
                token, resp, body = self._authorized(method, path, kwargs)
            if resp.status_code == 401:
                raise ProviderAuthError(self.refused_token_message(url_path(resp.url)))
            if resp.status_code == 403:
                raise ProviderForbiddenError(self.forbidden_message())
            if resp.status_code not in self.OK_STATUS:
                raise ProviderResponseError(
                    f"{self._source}: unexpected status {resp.status_code} for {url_path(resp.url)}"
                )
            self._bound_values(body, resp.url)
            return check(resp, body)

        return self.with_retries(attempt, idempotent=idempotent)

    def refused_token_message(self, url: str) -> str:
        if self.STATIC_TOKEN:
            return (
                f"{self._source} refused the service account's token for {url} (401); check the Connection's "
                "password (the token)"
            )
        return f"{self._source}: the access token was refused, renewed or not, for {url}"

    def _authorized(self, method: str, path: str, kwargs: dict[str, Any]) -> tuple[str, requests.Response, bytes]:
        token = self._access_token()
        headers = {**kwargs.get("headers", {}), "Authorization": f"Bearer {token}"}
        return token, *self._send(method, path, follow_redirects=True, **{**kwargs, "headers": headers})

    def _drop_token(self, refused: str) -> None:
        # Only the token that was refused: a concurrent request may have renewed it already.
        with self._token_lock:
            if self._token == refused:
                self._token = None

    def _bound_values(self, body: bytes, url: str) -> None:
        # Every JSON value but the first of an array or the document follows a ',' or
        # a ':', so this count (which also counts those bytes inside strings) is an
        # upper bound of the values a decoder would build, found at C speed.
        values = body.count(b",") + body.count(b":") + body.count(b"[") + 1
        if values > self.max_page_values:
            raise ProviderResponseError(
                f"{self._source}: the page of {url_path(url)} may hold up to {values:,} JSON values, above "
                f"max_page_values ({self.max_page_values:,}); refused before decoding it"
            )

    def _access_token(self) -> str:
        if self.STATIC_TOKEN:
            return self._secret
        with self._token_lock:  # one token request, however many requests are waiting for it
            return self._valid_token()

    def _valid_token(self) -> str:
        # Refresh a little early so a token does not die between check and use.
        if self._token and time.monotonic() < self._token_expires - 30:
            return self._token
        url, kwargs = self.token_request()
        resp, body = self._send("POST", url, **kwargs)
        if resp.status_code in (400, 401):
            raise ProviderAuthError(
                f"{self._source} refused the client credentials for client id {self.client_id!r} "
                f"({error_code(body) or resp.status_code}); check the Connection's login and password"
            )
        if resp.status_code != 200:
            raise ProviderResponseError(f"{self._source}: token endpoint answered {resp.status_code}")
        try:
            token_body = orjson.loads(body)
            self._token = str(token_body["access_token"])
            self._token_expires = time.monotonic() + token_lifetime(
                float(token_body.get("expires_in", 3600)), resp.headers.get("Date")
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TransientError(
                f"{self._source}: token response lacks access_token/expires_in", final=ProviderResponseError
            ) from exc
        self.count("token_fetches")
        return self._token

    def _send(
        self, method: str, url: str, *, follow_redirects: bool = False, **kwargs: Any
    ) -> tuple[requests.Response, bytes]:
        """One HTTP exchange, its body read whole within the deadline; transient failures become TransientError.

        Redirects are never left to ``requests``, which re-sends a form body and
        credentials to wherever a 307 points: with ``follow_redirects`` a
        redirect within the request's origin is followed, any other is an error.
        """
        if self._gate.wait(self._sleep):
            self.count("rate_limit_waits")
        self.count("requests")
        started = time.monotonic()
        target = url if "://" in url else self.base_url + url
        shown = url_path(url)
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._request(method, target, shown, kwargs)
            if resp.status_code not in REDIRECT_STATUS or "location" not in resp.headers:
                break
            location = urllib.parse.urljoin(target, resp.headers["location"])
            resp.close()
            if not follow_redirects:
                raise ProviderResponseError(
                    f"{self._source}: {method} {shown} answered {resp.status_code}, a redirect to "
                    f"{origin(location)}; this request follows no redirect (set its final address in the Connection)"
                )
            if origin(location) != origin(target):
                raise ProviderResponseError(
                    f"{self._source}: {method} {shown} was redirected ({resp.status_code}) to another origin, "
                    f"{origin(location)}; redirects are followed within {origin(target)} only"
                )
            # The Location carries its own query: the original parameters are not sent again.
            target, kwargs = location, {k: v for k, v in kwargs.items() if k != "params"}
        else:
            raise ProviderResponseError(
                f"{self._source}: {method} {shown} was redirected more than {MAX_REDIRECTS} times"
            )
        try:
            if resp.status_code in RETRYABLE_STATUS:
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
                if resp.status_code == 429 and retry_after is not None:
                    self._gate.hold(min(retry_after, self.retry.max_retry_after))
                raise TransientError(
                    f"HTTP {resp.status_code} on {method} {shown}", retry_after, unprocessed=resp.status_code == 429
                )
            return resp, self._read_body(resp, started, f"{method} {shown}")
        finally:
            resp.close()

    def _request(self, method: str, target: str, shown: str, kwargs: dict[str, Any]) -> requests.Response:
        try:
            return self._session.request(
                method, target, timeout=self.timeout, stream=True, allow_redirects=False, **kwargs
            )
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            # A connection never made carried no request; any other failure may have come after it.
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            never_sent = isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(
                reason, urllib3.exceptions.NewConnectionError
            )
            raise TransientError(f"{type(exc).__name__} on {method} {shown}", unprocessed=never_sent) from None

    def _read_body(self, resp: requests.Response, started: float, request: str) -> bytes:
        # read1 returns what one read of the socket gives: a server that trickles its
        # body one byte at a time still reaches the deadline check between reads.
        deadline = started + self.retry.max_request_seconds
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = resp.raw.read1(65536, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise TransientError(f"{type(exc).__name__} while reading the response to {request}") from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_response_bytes:
                raise TransientError(
                    f"the response to {request} exceeds {self.max_response_bytes:,} bytes", final=ProviderResponseError
                )
            if time.monotonic() > deadline:
                raise TransientError(
                    f"the response to {request} took over {self.retry.max_request_seconds:g} s (deadline)"
                )
            chunks.append(chunk)

    def with_retries(self, call: Callable[[], Any], *, idempotent: bool = True) -> Any:
        policy = self.retry
        backoff = tenacity.wait_exponential_jitter(
            multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.jitter
        )

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TransientError) and exc.retry_after is not None:
                # Honour the server's wait, with a little jitter so parallel
                # clients do not come back in lockstep.
                self._gate.waited()
                return min(exc.retry_after, policy.max_retry_after) + random.uniform(0, policy.jitter * 0.1)  # noqa: S311
            return backoff(state)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.count("retries")
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s: %s; retry %d/%d in %.2f s",
                self._source,
                exc,
                state.attempt_number,
                policy.max_attempts - 1,
                state.upcoming_sleep,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(
                lambda exc: isinstance(exc, TransientError) and (idempotent or exc.unprocessed)
            ),
            wait=wait,
            stop=tenacity.stop_after_attempt(policy.max_attempts) | tenacity.stop_after_delay(policy.max_total_seconds),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=False,
        )
        try:
            return retrying(call)
        except TransientError as exc:
            # Not retried (a request that is not idempotent may have been acted on): fail this step;
            # a retry of the task starts it again from the beginning.
            raise exc.final(f"{self._source}: {exc}; not sent again: the server may have acted on it") from None
        except tenacity.RetryError as err:
            last = err.last_attempt.exception()
            final = last.final if isinstance(last, TransientError) else ProviderUnavailableError
            raise final(
                f"{self._source} still failing after {err.last_attempt.attempt_number} attempts: {last}"
            ) from None


def _session(concurrent_requests: int) -> requests.Session:
    """A session whose connection pool keeps a connection per concurrent request."""
    session = requests.Session()
    if concurrent_requests > 1:
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, concurrent_requests))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return session


def retry_policy_from_extra(extra: dict[str, Any]) -> RetryPolicy:
    """The retry bounds a Connection's extra may set (``max_attempts``, ``max_total_seconds``, ...)."""
    defaults = RetryPolicy()
    return RetryPolicy(
        max_attempts=int(extra.get("max_attempts", defaults.max_attempts)),
        max_total_seconds=float(extra.get("max_total_seconds", defaults.max_total_seconds)),
        max_retry_after=float(extra.get("max_retry_after", defaults.max_retry_after)),
        initial_wait=float(extra.get("initial_wait", defaults.initial_wait)),
        max_request_seconds=float(extra.get("max_request_seconds", defaults.max_request_seconds)),
    )


def client_options_from_extra(
    extra: dict[str, Any], conn_id: str, label: str, default_concurrency: int = 1
) -> dict[str, Any]:
    """Timeouts, size cap, retry bounds and concurrent requests (the provider's default unless the
    extra sets ``concurrent_requests``) from a Connection's extra, for any provider client."""
    hosts = extra.get("plain_http_hosts") or ()
    if isinstance(hosts, str):
        hosts = [h.strip() for h in hosts.split(",")]
    return {
        "connect_timeout": float(extra.get("connect_timeout", 10)),
        "read_timeout": float(extra.get("read_timeout", 60)),
        "max_response_bytes": int(extra.get("max_response_bytes", MAX_RESPONSE_BYTES)),
        "max_page_values": int(extra.get("max_page_values", MAX_PAGE_VALUES)),
        "plain_http_hosts": frozenset(str(h) for h in hosts if h),
        "retry": retry_policy_from_extra(extra),
        "concurrent_requests": int(extra.get("concurrent_requests", default_concurrency)),
        "source": f"{label} (Connection {conn_id!r})",
    }
