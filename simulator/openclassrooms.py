"""The OpenClassrooms organization API, as modelled by the project (contract: ``openclassrooms.yaml``).

OAuth2 client credentials with HTTP Basic at ``/oauth2/token``; the catalogue
at ``/organizations/{org}/courses`` and the learning activity at
``/organizations/{org}/learning-activity?updated-since=..&updated-until=..``,
both paged with ``Range: items=START-END`` answered by 206 and
``Content-Range: items START-END/TOTAL``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import pathlib
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import hostile
from simulator.common import (
    announced_total,
    contract_routes,
    error,
    fault_gate,
    items_json,
    json_response,
    malformed,
    respond,
    with_hostile,
)
from simulator.state import SimState, parse_rfc3339

MAX_PAGE = 500
RANGE_RE = re.compile(r"^\s*items\s*=\s*(\d+)\s*-\s*(\d+)\s*$")
CONTRACT = pathlib.Path(__file__).with_name("openclassrooms.yaml")
# The LMS group of the demo connector (GET /_sim/lms-seed).
LMS_GROUP = ("grp-openclassrooms", "OpenClassrooms academy")
# The hostile records it serves (fault hostile_share): simulator.hostile's, in this API's flat shapes.
COURSE_VARIANTS = hostile.COURSE_VARIANTS
ACTIVITY_VARIANTS = hostile.ACTIVITY_VARIANTS


def printed_extras(state: SimState) -> dict[str, str]:
    """The Connection extras a client needs besides the URL and the credentials."""
    return {"organization_id": state.cfg.organization_id}


def routes(state: SimState) -> list[Route]:
    cfg = state.cfg

    async def token(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        client_id = secret = None
        if header.lower().startswith("basic "):
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return error(400, "unsupported_grant_type")
        if client_id != cfg.client_id or secret != cfg.client_secret:
            return error(401, "invalid_client", "client authentication failed")
        tok, lifetime = state.issue_token()
        return json_response({"access_token": tok, "token_type": "Bearer", "expires_in": lifetime})

    async def gate(request: Request) -> Response | None:
        """Auth, organization and injected faults shared by the data endpoints."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not state.check_token(auth[7:]):
            return error(401, "invalid_token", "the access token is missing, invalid or expired")
        if request.path_params["org"] != cfg.organization_id:
            return error(403, "forbidden", "these credentials give no access to this organization")
        return await fault_gate(request, state)

    def page(request: Request, total: int) -> tuple[int, int] | Response:
        raw = request.headers.get("range")
        if raw is None:
            start, end = 0, MAX_PAGE - 1
        else:
            m = RANGE_RE.match(raw)
            if not m or int(m.group(2)) < int(m.group(1)):
                return error(400, "invalid_range", "expected Range: items=START-END")
            start, end = int(m.group(1)), int(m.group(2))
        end = min(end, start + (state.faults.max_page_items or MAX_PAGE) - 1, total - 1)
        if start >= total and not (start == 0 and total == 0):
            return error(416, "range_not_satisfiable", headers={"Content-Range": f"items */{total}"})
        return start, end

    def paged(request: Request, items: list[Any], start: int, end: int, total: int) -> Response:
        shown_start = start - 1 if state.faults.overlap_pages and start > 0 else start
        announced = announced_total(state, total)
        content_range = f"items */{announced}" if total == 0 else f"items {shown_start}-{end}/{announced}"
        if shown_start != start:
            items = [*items[:1], *items]
        status = 200 if (start == 0 and end >= total - 1) else 206
        headers = {"Content-Range": content_range, "Accept-Ranges": "items"}
        return respond(request, state, items_json(items), status, headers)

    def corrupt(items: list[Any], start: int, kind: str) -> list[Any]:
        """Records that break the contract in plain ways (fault malformed_share)."""

        def mutate(item: dict[str, Any], variant: int) -> None:
            if kind == "course":
                key, value = [("duration", "about two hours"), ("id", None), ("language", "French")][variant]
            else:
                key, value = [("progress", 140), ("course_id", None), ("updated_at", "yesterday")][variant]
            item[key] = value

        return malformed(state, items, start, mutate)

    async def courses(request: Request) -> Response:
        denied = await gate(request)
        if denied:
            return denied
        listing = with_hostile(
            state, state.course_list(), "course", "courses", lambda c: str(c["id"]), hostile.course_variant
        )
        total = len(listing)
        rng = page(request, total)
        if isinstance(rng, Response):
            return rng
        start, end = rng
        return paged(request, corrupt(listing[start : end + 1], start, "course"), start, end, total)

    async def activity(request: Request) -> Response:
        denied = await gate(request)
        if denied:
            return denied
        try:
            since = parse_rfc3339(request.query_params["updated-since"])
            until = parse_rfc3339(request.query_params["updated-until"])
        except (KeyError, ValueError):
            return error(400, "invalid_request", "updated-since and updated-until must be RFC 3339 timestamps")
        if not state.plain_activity() or state.faults.hostile_share:
            listing = with_hostile(
                state,
                state.activity_listing(since, until),
                "activity",
                f"activity:{since}/{until}",
                lambda r: f"{r['learner_email']}|{r['course_id']}|{r['updated_at']}",
                hostile.activity_variant,
            )
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

    org = "/organizations/{org}"
    return [
        Route("/oauth2/token", token, methods=["POST"]),
        Route(f"{org}/courses", courses, methods=["GET"]),
        Route(f"{org}/learning-activity", activity, methods=["GET"]),
        *contract_routes(CONTRACT),
    ]
