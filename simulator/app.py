"""The HTTP face of the simulator: the provider contract plus ``/_sim/`` controls."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import datetime as dt
import pathlib
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from simulator import data, hostile
from simulator.state import SimState, parse_rfc3339

MAX_PAGE = 500
RANGE_RE = re.compile(r"^\s*items\s*=\s*(\d+)\s*-\s*(\d+)\s*$")
OPENAPI_PATH = pathlib.Path(__file__).with_name("openapi.yaml")


class SimulatedReset(Exception):
    """Raised mid-body so the server drops the connection, as a reset would."""


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _error(status: int, error: str, description: str = "", headers: dict[str, str] | None = None) -> Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return _json(body, status, headers)


def create_app(state: SimState) -> Starlette:
    cfg = state.cfg

    async def token(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        client_id = secret = None
        if header.lower().startswith("basic "):
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type")
        if client_id != cfg.client_id or secret != cfg.client_secret:
            return _error(401, "invalid_client", "client authentication failed")
        tok, lifetime = state.issue_token()
        return _json({"access_token": tok, "token_type": "Bearer", "expires_in": lifetime})

    async def guard(request: Request) -> Response | None:
        """Auth, organization and injected faults shared by the data endpoints."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not state.check_token(auth[7:]):
            return _error(401, "invalid_token", "the access token is missing, invalid or expired")
        if request.path_params["org"] != cfg.organization_id:
            return _error(403, "forbidden", "these credentials give no access to this organization")
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        fault = state.draw_fault()
        if fault == "429":
            ra = state.faults.retry_after
            return _error(429, "rate_limited", headers={"Retry-After": f"{ra:g}"})
        if fault == "5xx":
            return _error(state.faults.error_status, "server_error")
        request.state.fault = fault
        return None

    def page(request: Request, total: int) -> tuple[int, int] | Response:
        raw = request.headers.get("range")
        if raw is None:
            start, end = 0, MAX_PAGE - 1
        else:
            m = RANGE_RE.match(raw)
            if not m or int(m.group(2)) < int(m.group(1)):
                return _error(400, "invalid_range", "expected Range: items=START-END")
            start, end = int(m.group(1)), int(m.group(2))
        end = min(end, start + MAX_PAGE - 1, total - 1)
        if start >= total and not (start == 0 and total == 0):
            return _error(416, "range_not_satisfiable", headers={"Content-Range": f"items */{total}"})
        return start, end

    def paged(request: Request, items: list[Any], start: int, end: int, total: int) -> Response:
        f = state.faults
        shown_start = start
        if f.overlap_pages and start > 0:
            shown_start = start - 1
        announced = total + f.total_offset
        if f.total_change_burst > 0:
            f.total_change_burst -= 1
            announced += 1
        content_range = f"items */{announced}" if total == 0 else f"items {shown_start}-{end}/{announced}"
        if shown_start != start:
            items = [*items[:1], *items]
        status = 200 if (start == 0 and end >= total - 1) else 206
        body = _body(items)
        headers = {"Content-Range": content_range, "Accept-Ranges": "items"}
        fault = getattr(request.state, "fault", None)
        if fault == "malformed_json":
            body = body[: max(1, len(body) // 2)]
        if fault == "reset":
            return StreamingResponse(
                _reset_stream(body), status_code=status, headers=headers, media_type="application/json"
            )
        if fault == "trickle":
            return StreamingResponse(
                _trickle(body, f.trickle_delay_ms / 1000),
                status_code=status,
                headers=headers,
                media_type="application/json",
            )
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    def with_hostile(listing: list[dict[str, Any]], kind: str, key: str) -> list[Any]:
        """The listing with a hostile twin after a share of its records (the same ones at every call)."""
        share = state.faults.hostile_share
        if not share:
            return listing
        out: list[Any] = []
        served: dict[str, int] = {}
        for item in listing:
            out.append(item)
            if _fraction(cfg.seed, kind, item) < share:
                n = len(out)
                raw = hostile.course_variant(item, n) if kind == "course" else hostile.activity_variant(item, n)
                served[raw.variant] = served.get(raw.variant, 0) + 1
                out.append(raw)
        state.hostile_listed[key] = served
        return out

    def corrupt(items: list[dict[str, Any]], start: int, kind: str) -> list[dict[str, Any]]:
        share = state.faults.malformed_share
        if not share or not items:
            return items
        rng = np.random.default_rng([cfg.seed, 7, start])
        hit = rng.random(len(items)) < share
        out = []
        for i, item in enumerate(items):
            if hit[i] and isinstance(item, dict):
                item = dict(item)
                variant = (start + i) % 3
                if kind == "course":
                    if variant == 0:
                        item["duration"] = "about two hours"
                    elif variant == 1:
                        item["id"] = None
                    else:
                        item["language"] = "French"
                elif variant == 0:
                    item["progress"] = 140
                elif variant == 1:
                    item["course_id"] = None
                else:
                    item["updated_at"] = "yesterday"
            out.append(item)
        return out

    async def courses(request: Request) -> Response:
        denied = await guard(request)
        if denied:
            return denied
        listing = with_hostile(state.course_list(), "course", "courses")
        total = len(listing)
        rng = page(request, total)
        if isinstance(rng, Response):
            return rng
        start, end = rng
        items = corrupt(listing[start : end + 1], start, "course")
        return paged(request, items, start, end, total)

    async def activity(request: Request) -> Response:
        denied = await guard(request)
        if denied:
            return denied
        try:
            since = parse_rfc3339(request.query_params["updated-since"])
            until = parse_rfc3339(request.query_params["updated-until"])
        except (KeyError, ValueError):
            return _error(400, "invalid_request", "updated-since and updated-until must be RFC 3339 timestamps")
        if not state.plain_activity() or state.faults.hostile_share:
            listing = with_hostile(state.activity_listing(since, until), "activity", f"activity:{since}/{until}")
            total = len(listing)
        else:
            lo, hi = state.activity_bounds(since, until)
            listing, total = None, hi - lo
        rng = page(request, total)
        if isinstance(rng, Response):
            return rng
        start, end = rng
        if listing is not None:
            items = listing[start : end + 1]
        else:
            items = state.format_activity(lo + start, lo + end + 1) if total else []
        return paged(request, corrupt(items, start, "activity"), start, end, total)

    async def openapi_yaml(request: Request) -> Response:
        return Response(OPENAPI_PATH.read_bytes(), media_type="application/yaml")

    async def openapi_json(request: Request) -> Response:
        return _json(yaml.safe_load(OPENAPI_PATH.read_text()))

    # --- /_sim/ controls --------------------------------------------------
    async def sim_state(request: Request) -> Response:
        return _json(state.state_summary())

    async def sim_faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults = type(state.faults)()
        elif request.method != "GET":
            try:
                state.faults.update(await request.json())
            except (ValueError, TypeError) as exc:
                return _error(400, "invalid_faults", str(exc))
        return _json(dataclasses.asdict(state.faults))

    async def sim_course(request: Request) -> Response:
        cid = request.path_params["course_id"]
        if cid not in state.courses:
            return _error(404, "not_found", f"no course {cid}")
        if request.method == "DELETE":
            return _json(state.courses.pop(cid))
        try:
            return _json(state.change_course(cid, await request.json()))
        except ValueError as exc:
            return _error(400, "invalid_change", str(exc))

    async def sim_add_course(request: Request) -> Response:
        try:
            return _json(state.add_course(await request.json()), 201)
        except ValueError as exc:
            return _error(400, "invalid_course", str(exc))

    async def sim_activity(request: Request) -> Response:
        body = await request.json()
        records = body if isinstance(body, list) else [body]
        try:
            return _json({"added": state.add_activity(records)}, 201)
        except ValueError as exc:
            return _error(400, "invalid_activity", str(exc))

    async def sim_history(request: Request) -> Response:
        if request.method == "PUT":
            body = await request.json()
            try:
                state.set_history(body.get("mode", state.history), body.get("as_of"))
            except (ValueError, TypeError, AttributeError) as exc:
                return _error(400, "invalid_history", str(exc))
        return _json(state.state_summary()["history"])

    async def sim_reset(request: Request) -> Response:
        state.reset()
        return _json(state.state_summary())

    async def sim_lms_seed(request: Request) -> Response:
        return _json(data.lms_seed(cfg, state.learners))

    async def health(request: Request) -> Response:
        return _json({"status": "ok", "time": dt.datetime.now(dt.UTC).isoformat()})

    org = "/organizations/{org}"
    routes = [
        Route("/oauth2/token", token, methods=["POST"]),
        Route(f"{org}/courses", courses, methods=["GET"]),
        Route(f"{org}/learning-activity", activity, methods=["GET"]),
        Route("/openapi.yaml", openapi_yaml),
        Route("/openapi.json", openapi_json),
        Route("/_sim/health", health),
        Route("/_sim/state", sim_state),
        Route("/_sim/faults", sim_faults, methods=["GET", "PUT", "POST", "DELETE"]),
        Route("/_sim/courses", sim_add_course, methods=["POST"]),
        Route("/_sim/courses/{course_id}", sim_course, methods=["PATCH", "DELETE"]),
        Route("/_sim/activity", sim_activity, methods=["POST"]),
        Route("/_sim/reset", sim_reset, methods=["POST"]),
        Route("/_sim/history", sim_history, methods=["GET", "PUT"]),
        Route("/_sim/lms-seed", sim_lms_seed),
    ]
    return Starlette(routes=routes)


async def _reset_stream(body: bytes) -> AsyncIterator[bytes]:
    yield body[: len(body) // 2]
    raise SimulatedReset("simulated connection reset")


async def _trickle(body: bytes, delay: float) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 256):
        yield body[i : i + 256]
        await asyncio.sleep(delay)


def _body(items: list[Any]) -> bytes:
    if not any(isinstance(i, hostile.Raw) for i in items):
        return orjson.dumps(items)
    return b"[" + b",".join(i.body if isinstance(i, hostile.Raw) else orjson.dumps(i) for i in items) + b"]"


def _fraction(seed: int, kind: str, item: dict[str, Any]) -> float:
    """A stable pseudo-random number in [0, 1) for one record of a listing."""
    key = item.get("id") if kind == "course" else f"{item['learner_email']}|{item['course_id']}|{item['updated_at']}"
    return zlib.crc32(f"{seed}|{kind}|{key}".encode()) / 2**32
