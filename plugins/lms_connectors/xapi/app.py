"""The xAPI 1.0.3 Statements resource, as providers push to an LRS: ``POST`` (one statement or a batch)
and ``PUT ?statementId=``, over HTTP Basic with one set of credentials per connector.

Every answer that says a statement is stored comes after its transaction committed. A statement is
screened (:mod:`lms_connectors.rules.xapi`), its learner hashed with the connector's key, and
stored with its body minus the actor's identifier; a refused statement is recorded with its reason
and never stops the others of its request. A resend of a stored statement is answered as a success
and changes nothing; another statement under a stored id is a 409, and nothing of that request is
stored. A body over ``max_body_bytes`` is refused (413) before it is read whole.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lms_connectors.privacy.pseudonym import connector_key, current_version, identity_hash, learner_hash
from lms_connectors.providers import Provider
from lms_connectors.rules import xapi
from lms_connectors.warehouse import statements as store

log = logging.getLogger(__name__)
PREFIX = "/xapi"
MAX_BODY_BYTES = 4 * 1024 * 1024
CONNECTION_WAIT_SECONDS = 10.0
UNDECODABLE = "undecodable_request"


@dataclasses.dataclass(frozen=True)
class Settings:
    """``dsn``: the warehouse as the endpoint's login (lms_xapi); ``master_key``: the pseudonymisation
    key, from which each connector's key is derived; ``providers``: each connector's provider (how
    its account actors are hashed)."""

    dsn: str
    master_key: bytes
    providers: Mapping[str, Provider]
    max_body_bytes: int = MAX_BODY_BYTES
    pool_size: int = 4


class _Refusal(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, dict(headers or {})


def create_app(settings: Settings) -> Starlette:
    # The warehouse functions are synchronous and their statements few: each request's run in a
    # worker thread, on a pooled connection that commits when the request's work ends without error.
    # A request waits for a connection CONNECTION_WAIT_SECONDS at most, then gets a 503 (providers resend).
    pool = ConnectionPool(
        settings.dsn,
        min_size=1,
        max_size=settings.pool_size,
        open=False,
        timeout=CONNECTION_WAIT_SECONDS,
        check=ConnectionPool.check_connection,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Not waiting for a first connection: the endpoint starts while the warehouse is down or not yet
        # deployed, and answers 503 until it can store.
        await run_in_threadpool(pool.open, False)
        try:
            yield
        finally:
            await run_in_threadpool(pool.close)

    async def about(request: Request) -> Response:
        return _json({"version": [xapi.VERSION]})

    async def statements(request: Request) -> Response:
        try:
            if not xapi.supported_version(request.headers.get(xapi.VERSION_HEADER)):
                raise _Refusal(400, f"the {xapi.VERSION_HEADER} header must name a 1.0.x version")
            username, secret = _basic(request)
            body = await _body(request, settings.max_body_bytes)
            statement_id = request.query_params.get("statementId") if request.method == "PUT" else None
            if request.method == "PUT" and not statement_id:
                raise _Refusal(400, "PUT needs the statementId parameter")
            return await run_in_threadpool(_receive, pool, settings, username, secret, body, statement_id)
        except _Refusal as refusal:
            return _json({"error": str(refusal)}, refusal.status, refusal.headers)
        except (psycopg.OperationalError, PoolTimeout):
            log.exception("the warehouse is unreachable: statements refused with 503 (providers send them again)")
            return _json({"error": "the store is unavailable, send again later"}, 503, {"Retry-After": "30"})

    return Starlette(
        routes=[
            Route(f"{PREFIX}/about", about, methods=["GET"]),
            Route(f"{PREFIX}/statements", statements, methods=["POST", "PUT"]),
        ],
        lifespan=lifespan,
    )


def _receive(
    pool: ConnectionPool, settings: Settings, username: str, secret: str, body: bytes, statement_id: str | None
) -> Response:
    """A request's statements stored, or why not (a :class:`_Refusal`); committed before it returns."""
    with pool.connection() as conn:
        connector = store.authenticate(conn, username, secret)
        if connector is None or connector not in settings.providers:
            raise _Refusal(401, "unknown or revoked credentials", {"WWW-Authenticate": 'Basic realm="xAPI"'})
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            store.refuse(conn, connector, [xapi.Refused(UNDECODABLE, "the request's body is not JSON")])
            conn.commit()
            raise _Refusal(400, "the body is not JSON") from None
        if statement_id is not None and not isinstance(parsed, dict):
            raise _Refusal(400, "PUT takes one statement, an object")
        batch = parsed if isinstance(parsed, list) else [parsed]
        if not batch:
            raise _Refusal(400, "no statement in the request")
        screened = [xapi.screen(raw, statement_id) for raw in batch]
        refused = [s for s in screened if isinstance(s, xapi.Refused)]
        accepted = [s for s in screened if isinstance(s, xapi.Statement)]
        try:
            stored = _store(conn, settings, connector, accepted, refused)
        except store.StatementConflict as conflict:
            raise _Refusal(409, str(conflict)) from None
        conn.commit()
    log.info("connector %s: %d statements stored, %d refused", connector, len(stored), len(refused))
    if refused and not stored:
        return _json({"error": "no statement was valid", "refused": [_reason(r) for r in refused]}, 400)
    if statement_id is not None:
        return Response(status_code=204, headers={xapi.VERSION_HEADER: xapi.VERSION})
    return _json(stored if not refused else {"stored": stored, "refused": [_reason(r) for r in refused]})


def _store(
    conn: psycopg.Connection,
    settings: Settings,
    connector: str,
    accepted: list[xapi.Statement],
    refused: list[xapi.Refused],
) -> list[str]:
    """Hash the accepted statements' learners and store them; a statement whose actor gives no hash
    is added to ``refused`` (the answer lists them) and recorded with the others."""
    version = current_version(conn, connector)
    key = connector_key(settings.master_key, connector, version)
    provider = settings.providers[connector]
    hashed: list[store.Hashed] = []
    for s in accepted:
        if s.actor.kind == "mbox":
            learner, identity = learner_hash(key, s.actor.value), None
        elif provider.learner_id_kind is not None:
            learner = None
            identity = identity_hash(key, provider.learner_id_kind, provider.identity_issuer, s.actor.value)
        else:
            learner = identity = None
        if learner is None and identity is None:
            refused.append(xapi.Refused(xapi.UNSUPPORTED_ACTOR, f"{connector} has no learner id of this form", s.id))
        else:
            hashed.append(store.Hashed(s, learner, identity))
    return store.store(conn, connector, version, hashed, refused)


def _basic(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    try:
        username, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if scheme.lower() != "basic" or not sep:
        raise _Refusal(401, "HTTP Basic credentials are required", {"WWW-Authenticate": 'Basic realm="xAPI"'})
    return username, secret


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refusal(413, f"the body is over {limit:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refusal(413, f"the body is over {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(refused: xapi.Refused) -> dict[str, Any]:
    return {"id": refused.id, "reason": refused.reason, "detail": refused.detail}


def _json(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status,
        media_type="application/json",
        headers={xapi.VERSION_HEADER: xapi.VERSION, **(headers or {})},
    )
