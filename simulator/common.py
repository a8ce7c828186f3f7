"""What every simulated provider shares: responses with injected faults, hostile twins, the ``/_sim/`` controls.

Each provider module (``simulator.openclassrooms``, ``simulator.linkedin_learning``)
renders the same seeded world (courses, learners, learning activity) in its
own API's shapes; the controls change that world and the faults, whichever
API serves it, so one test can drive either simulator the same way.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import pathlib
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import orjson
import yaml
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from simulator import data, hostile
from simulator.state import SimState


class SimulatedReset(Exception):
    """Raised mid-body so the server drops the connection, as a reset would."""


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def error(status: int, code: str, description: str = "", headers: dict[str, str] | None = None) -> Response:
    body = {"error": code}
    if description:
        body["error_description"] = description
    return json_response(body, status, headers)


async def fault_gate(request: Request, state: SimState) -> Response | None:
    """Latency, 429 and 5xx faults of a data request; the body faults are kept for :func:`respond`.

    A request's faults are those in force when it arrived: a request a client gave up on, still in
    its latency when the faults change (the next scenario's), is answered 503 and takes nothing of
    them (no burst, no moved total)."""
    epoch = state.fault_epoch
    fault = state.draw_fault()
    if state.faults.latency_ms:
        await asyncio.sleep(state.faults.latency_ms / 1000)
        if state.fault_epoch != epoch:
            return error(503, "stale_request", "the simulator's faults changed while this request waited")
    if fault == "429":
        return error(429, "rate_limited", headers={"Retry-After": f"{state.faults.retry_after:g}"})
    if fault == "5xx":
        return error(state.faults.error_status, "server_error")
    request.state.fault = fault
    return None


def announced_total(state: SimState, total: int) -> int:
    """The total a page announces: the real one, unless a fault says otherwise."""
    f = state.faults
    announced = total + f.total_offset
    if f.total_change_burst > 0:
        f.total_change_burst -= 1
        announced += 1
    return announced


def respond(request: Request, state: SimState, body: bytes, status: int, headers: dict[str, str]) -> Response:
    """The body as sent, or truncated, reset mid-way or trickled, as the request's fault says."""
    fault = getattr(request.state, "fault", None)
    if fault == "malformed_json":
        body = body[: max(1, len(body) // 2)]
    if fault == "reset":
        return StreamingResponse(
            _reset_stream(body), status_code=status, headers=headers, media_type="application/json"
        )
    if fault == "trickle":
        return StreamingResponse(
            _trickle(body, state.faults.trickle_delay_ms / 1000),
            status_code=status,
            headers=headers,
            media_type="application/json",
        )
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def _reset_stream(body: bytes) -> AsyncIterator[bytes]:
    yield body[: len(body) // 2]
    raise SimulatedReset("simulated connection reset")


async def _trickle(body: bytes, delay: float) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 256):
        yield body[i : i + 256]
        await asyncio.sleep(delay)


def items_json(items: list[Any]) -> bytes:
    """A JSON array of records, hostile ones written as their exact bytes."""
    if not any(isinstance(i, hostile.Raw) for i in items):
        return orjson.dumps(items)
    return b"[" + b",".join(i.body if isinstance(i, hostile.Raw) else orjson.dumps(i) for i in items) + b"]"


def fraction(seed: int, kind: str, key: str) -> float:
    """A stable pseudo-random number in [0, 1) for one record of a listing."""
    return zlib.crc32(f"{seed}|{kind}|{key}".encode()) / 2**32


def with_hostile(
    state: SimState,
    listing: list[Any],
    kind: str,
    listing_key: str,
    record_key: Callable[[Any], str],
    twin: Callable[[Any, int], hostile.Raw],
) -> list[Any]:
    """The listing with a hostile twin after a share of its records (the same ones at every call).

    The n-th twin of a listing is the n-th variant (cycling), so a listing with as
    many twins as variants serves every one of them."""
    share = state.faults.hostile_share
    if not share:
        return listing
    out: list[Any] = []
    served: dict[str, int] = {}
    for item in listing:
        out.append(item)
        if fraction(state.cfg.seed, kind, record_key(item)) < share:
            raw = twin(item, sum(served.values()))
            served[raw.variant] = served.get(raw.variant, 0) + 1
            out.append(raw)
    state.hostile_listed[listing_key] = served
    return out


def malformed(state: SimState, items: list[Any], start: int, mutate: Callable[[Any, int], None]) -> list[Any]:
    """The page with a share of its records broken in plain ways (fault ``malformed_share``): each hit
    record is copied and ``mutate(copy, variant)`` breaks it, variant 0-2 in turn (the same at every call)."""
    share = state.faults.malformed_share
    if not share or not items:
        return items
    hit = np.random.default_rng([state.cfg.seed, 7, start]).random(len(items)) < share
    out = []
    for i, item in enumerate(items):
        if hit[i] and isinstance(item, dict):
            item = copy.deepcopy(item)
            mutate(item, (start + i) % 3)
        out.append(item)
    return out


def contract_routes(contract: pathlib.Path) -> list[Route]:
    """The provider's written contract, served as OpenAPI (YAML and JSON)."""

    async def as_yaml(request: Request) -> Response:
        return Response(contract.read_bytes(), media_type="application/yaml")

    async def as_json(request: Request) -> Response:
        return json_response(yaml.safe_load(contract.read_text()))

    return [Route("/openapi.yaml", as_yaml), Route("/openapi.json", as_json)]


def control_routes(state: SimState) -> list[Route]:
    """``/_sim/``: read and change the world and the faults (outside any provider's contract)."""

    async def sim_state(request: Request) -> Response:
        return json_response(state.state_summary())

    async def sim_faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults = type(state.faults)()
            state.fault_epoch += 1
        elif request.method != "GET":
            try:
                state.faults.update(await request.json())
            except (ValueError, TypeError) as exc:
                return error(400, "invalid_faults", str(exc))
            state.fault_epoch += 1
        return json_response(dataclasses.asdict(state.faults))

    async def sim_course(request: Request) -> Response:
        cid = request.path_params["course_id"]
        if cid not in state.courses:
            return error(404, "not_found", f"no course {cid}")
        if request.method == "DELETE":
            return json_response(state.courses.pop(cid))
        try:
            return json_response(state.change_course(cid, await request.json()))
        except ValueError as exc:
            return error(400, "invalid_change", str(exc))

    async def sim_add_course(request: Request) -> Response:
        if request.method == "GET":
            # The world's courses as the world holds them (ids, statuses, ISO durations), whatever API serves them.
            return json_response(state.course_list())
        try:
            return json_response(state.add_course(await request.json()), 201)
        except ValueError as exc:
            return error(400, "invalid_course", str(exc))

    async def sim_activity(request: Request) -> Response:
        body = await request.json()
        records = body if isinstance(body, list) else [body]
        try:
            return json_response({"added": state.add_activity(records)}, 201)
        except ValueError as exc:
            return error(400, "invalid_activity", str(exc))

    async def sim_xapi_push(request: Request) -> Response:
        """The provider's xAPI feed, pushed now for a window (``simulator.xapi_push``)."""
        from starlette.concurrency import run_in_threadpool

        from simulator import xapi_push

        try:
            return json_response(await run_in_threadpool(xapi_push.push, state, await request.json()))
        except (KeyError, ValueError) as exc:
            return error(400, "invalid_push", str(exc))

    async def sim_history(request: Request) -> Response:
        if request.method == "PUT":
            body = await request.json()
            try:
                state.set_history(body.get("mode", state.history), body.get("as_of"))
            except (ValueError, TypeError, AttributeError) as exc:
                return error(400, "invalid_history", str(exc))
        return json_response(state.state_summary()["history"])

    async def sim_reset(request: Request) -> Response:
        state.reset()
        return json_response(state.state_summary())

    async def sim_lms_seed(request: Request) -> Response:
        return json_response(data.lms_seed(state.cfg, state.learners))

    async def health(request: Request) -> Response:
        return json_response(
            {"status": "ok", "provider": state.cfg.provider, "time": dt.datetime.now(dt.UTC).isoformat()}
        )

    return [
        Route("/_sim/health", health),
        Route("/_sim/state", sim_state),
        Route("/_sim/faults", sim_faults, methods=["GET", "PUT", "POST", "DELETE"]),
        Route("/_sim/courses", sim_add_course, methods=["GET", "POST"]),
        Route("/_sim/courses/{course_id}", sim_course, methods=["PATCH", "DELETE"]),
        Route("/_sim/activity", sim_activity, methods=["POST"]),
        Route("/_sim/xapi/push", sim_xapi_push, methods=["POST"]),
        Route("/_sim/reset", sim_reset, methods=["POST"]),
        Route("/_sim/history", sim_history, methods=["GET", "PUT"]),
        Route("/_sim/lms-seed", sim_lms_seed),
    ]
