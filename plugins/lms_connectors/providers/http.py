"""The HTTP machinery every provider client shares.

OAuth2 client credentials with a cached token (refreshed once when a call
answers 401), bounded retries (tenacity) with exponential backoff and
jitter that honour ``Retry-After``, an overall deadline and a size cap per
request (a server that trickles its answer cannot hold a task), and a hook
(``check``) run on every answer inside the retry loop, so that a malformed
body or a page that does not match its request is asked again.

A provider's client subclasses :class:`OAuthClient`: it says how to ask for a
token (:meth:`OAuthClient.token_request`) and how to read its pages. Secrets
never appear in logs, reprs or exceptions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
import requests
import tenacity
import urllib3

from lms_connectors.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderForbiddenError,
    ProviderResponseError,
    ProviderUnavailableError,
)

log = logging.getLogger(__name__)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failed attempt worth repeating; ``final`` is what to raise once the attempts run out."""

    def __init__(
        self, message: str, retry_after: float | None = None, final: type[ProviderError] = ProviderUnavailableError
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.final = final


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


def url_path(url: str) -> str:
    """The URL without its query string, which may be long and is never needed in errors."""
    return url.split("?", 1)[0]


def error_code(body: bytes) -> str | None:
    """The ``error`` (or ``code``) member of a JSON error body, if any."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = (doc.get("error") or doc.get("code")) if isinstance(doc, dict) else None
    return str(error)[:80] if error is not None else None


class OAuthClient:
    """Requests with a bearer token from OAuth2 client credentials, retried and bounded."""

    # Answers a data call may give besides errors; a provider adds its own (416 for Range paging).
    OK_STATUS: frozenset[int] = frozenset({200, 206})

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
        max_response_bytes: int = 64 * 2**20,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self._session = session or requests.Session()
        self._sleep = sleep
        self._source = source
        self.max_response_bytes = max_response_bytes
        self._token: str | None = None
        self._token_expires = 0.0
        self.stats = {"requests": 0, "retries": 0, "token_fetches": 0, "pages": 0}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # --- what a provider says ---------------------------------------------
    def token_request(self) -> tuple[str, dict[str, Any]]:
        """The URL (absolute, or a path under base_url) and ``requests`` arguments of a token request."""
        raise NotImplementedError

    def forbidden_message(self) -> str:
        return f"{self._source}: client {self.client_id!r} has no access (403)"

    # --- requests ---------------------------------------------------------
    def get(
        self,
        path: str,
        params: dict[str, Any],
        headers: dict[str, str],
        check: Callable[[requests.Response, bytes], Any],
    ) -> Any:
        """One logical GET: transient failures retried (bounded), the token refreshed once on 401,
        and ``check`` run on every answer inside the retry loop (it raises TransientError to ask again)."""

        def attempt() -> Any:
            resp, body = self._authorized_get(path, params, headers)
            if resp.status_code == 401:
                # One refresh on an expired or revoked token, then the call again.
                self._token = None
                resp, body = self._authorized_get(path, params, headers)
                if resp.status_code == 401:
                    raise ProviderAuthError(
                        f"{self._source}: the access token was refused twice for {url_path(resp.url)}"
                    )
            if resp.status_code == 403:
                raise ProviderForbiddenError(self.forbidden_message())
            if resp.status_code not in self.OK_STATUS:
                raise ProviderResponseError(
                    f"{self._source}: unexpected status {resp.status_code} for {url_path(resp.url)}"
                )
            return check(resp, body)

        return self.with_retries(attempt)

    def _authorized_get(
        self, path: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[requests.Response, bytes]:
        token = self._access_token()
        return self._send("GET", path, params=params, headers={**headers, "Authorization": f"Bearer {token}"})

    def _access_token(self) -> str:
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
            self._token_expires = time.monotonic() + float(token_body.get("expires_in", 3600))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TransientError(
                f"{self._source}: token response lacks access_token/expires_in", final=ProviderResponseError
            ) from exc
        self.stats["token_fetches"] += 1
        return self._token

    def _send(self, method: str, url: str, **kwargs: Any) -> tuple[requests.Response, bytes]:
        """One HTTP exchange, its body read whole within the deadline; transient failures become TransientError."""
        self.stats["requests"] += 1
        started = time.monotonic()
        target = url if "://" in url else self.base_url + url
        shown = url_path(url)
        try:
            resp = self._session.request(method, target, timeout=self.timeout, stream=True, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise TransientError(f"{type(exc).__name__} on {method} {shown}") from None
        try:
            if resp.status_code in RETRYABLE_STATUS:
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
                raise TransientError(f"HTTP {resp.status_code} on {method} {shown}", retry_after)
            return resp, self._read_body(resp, started, f"{method} {shown}")
        finally:
            resp.close()

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

    def with_retries(self, call: Callable[[], Any]) -> Any:
        policy = self.retry
        backoff = tenacity.wait_exponential_jitter(
            multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.jitter
        )

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TransientError) and exc.retry_after is not None:
                # Honour the server's wait, with a little jitter so parallel
                # clients do not come back in lockstep.
                return min(exc.retry_after, policy.max_retry_after) + random.uniform(0, policy.jitter * 0.1)  # noqa: S311
            return backoff(state)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.stats["retries"] += 1
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
            retry=tenacity.retry_if_exception_type(TransientError),
            wait=wait,
            stop=tenacity.stop_after_attempt(policy.max_attempts) | tenacity.stop_after_delay(policy.max_total_seconds),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=False,
        )
        try:
            return retrying(call)
        except tenacity.RetryError as err:
            last = err.last_attempt.exception()
            final = last.final if isinstance(last, TransientError) else ProviderUnavailableError
            raise final(
                f"{self._source} still failing after {err.last_attempt.attempt_number} attempts: {last}"
            ) from None


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


def client_options_from_extra(extra: dict[str, Any], conn_id: str, label: str) -> dict[str, Any]:
    """Timeouts, size cap and retry bounds from a Connection's extra, for any provider client."""
    return {
        "connect_timeout": float(extra.get("connect_timeout", 10)),
        "read_timeout": float(extra.get("read_timeout", 60)),
        "max_response_bytes": int(extra.get("max_response_bytes", 64 * 2**20)),
        "retry": retry_policy_from_extra(extra),
        "source": f"{label} (Connection {conn_id!r})",
    }
