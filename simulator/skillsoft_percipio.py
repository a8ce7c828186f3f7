"""The Skillsoft Percipio API, as modelled by the project (contract: ``skillsoft_percipio.yaml``).

From the public evidence (Skillsoft's API documentation and other teams' client code): a static
service-account bearer token; a regional base URL (``https://api.percipio.com``, EU
``https://dew1-api.percipio.com``); the catalogue at
``/content-discovery/v2/organizations/{org}/catalog-content``, paged with ``offset`` and ``max``
over a snapshot the first page opens (``pagingRequestId``), the total in ``x-total-count``; the
learning activity as an asynchronous report job: POST a request, poll it until the answer is the
report. Durations are ISO 8601, a record carries its locales, a course announces a
``plannedRetirementDate`` before it retires.

Inferred, not documented publicly (the contract file says so field by field): the report's
record fields beyond ``duration``, ``timesAccessed`` and ``percentOfBookOrVideo``, that a report
is one JSON array, that ``duration`` is the learner's total seconds on the content up to the
report's end, and the shape of a pending answer.

The world is the simulators' shared one (``simulator.state``): a course whose world status is a
kept one is ACTIVE, any other RETIRED.
"""

from __future__ import annotations

import pathlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import data, hostile
from simulator.common import (
    announced_total,
    contract_routes,
    fault_gate,
    items_json,
    json_response,
    malformed,
    respond,
    with_hostile,
)
from simulator.state import SimState, parse_rfc3339

MAX_PAGE = 1000
CONTRACT = pathlib.Path(__file__).with_name("skillsoft_percipio.yaml")
# The LMS group of the demo connector (GET /_sim/lms-seed).
LMS_GROUP = ("grp-skillsoft-percipio", "Skillsoft Percipio library")
REGION = {"fr": "FR", "en": "US", "es": "ES", "de": "DE", "it": "IT", "pt": "BR", "nl": "NL"}
# Content ids are UUIDs; the world's id is their last group.
ID_PREFIX = "5b7e2c1d-9f4a-4e3b-8c6d-"
# A second locale some courses also carry (the first one is the course's own).
SECOND_LOCALE = "en-US"
PAGING_TTL_SECONDS = 600


def printed_extras(state: SimState) -> dict[str, str]:
    """The Connection extras a client needs besides the URL and the token; this simulator prepares
    a report at its first status answer, so a client may ask again after a second (Percipio: 10 s)."""
    return {"organization_id": state.cfg.organization_id, "poll_seconds": "1"}


def content_id(course_id: str) -> str:
    return f"{ID_PREFIX}{int(course_id):012d}" if str(course_id).isdigit() else str(course_id)


def _iso(value: Any, ms: bool = True) -> Any:
    """An RFC 3339 world timestamp as Percipio writes it (milliseconds, Z)."""
    try:
        seconds = parse_rfc3339(str(value))
    except ValueError:
        return value  # the world holds something no API would send: pass it on as it is
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (".000Z" if ms else "Z")


def _launch_url(world_url: Any) -> Any:
    prefix = "https://openclassrooms.com/"
    if isinstance(world_url, str) and world_url.startswith(prefix):
        return "https://share.percipio.com/cd/" + world_url.rstrip("/").rsplit("/", 1)[-1]
    return world_url


def _image_url(world_url: Any) -> Any:
    prefix = "https://user.oc-static.com/courses/"
    if isinstance(world_url, str) and world_url.startswith(prefix):
        return "https://cdn2.percipio.com/public/c/" + world_url.removeprefix(prefix)
    return world_url


def _minutes_to_iso(duration: Any) -> Any:
    """The world's ISO duration in Percipio's form: hours, minutes and seconds (``PT52M30S``)."""
    from simulator.state import _iso_minutes

    try:
        total = round(_iso_minutes(duration) * 60)
    except (TypeError, ValueError):
        return duration
    if not isinstance(duration, str) or not duration.startswith("P"):
        return duration
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{seconds}S"


def content(course: dict[str, Any], seed: int) -> dict[str, Any]:
    """A world course as a catalog-content item."""
    lang = course.get("language")
    locale = f"{lang}-{REGION.get(str(lang), 'US')}" if isinstance(lang, str) else lang
    metadata = [{"localeCode": locale, "title": course.get("title"), "description": course.get("description")}]
    locales = [locale]
    # A share of the catalogue is also offered in English: a record with several locales.
    if locale != SECOND_LOCALE and int(course["id"]) % 4 == 0:
        locales.append(SECOND_LOCALE)
        metadata.append(
            {
                "localeCode": SECOND_LOCALE,
                "title": f"{course.get('title')} (EN)",
                "description": course.get("description"),
            }
        )
    kept = course.get("status") in data.KEPT_STATUSES
    updated = _iso(course.get("updated_at"))
    lifecycle: dict[str, Any] = {
        "status": "ACTIVE" if kept else "RETIRED",
        "publishDate": "2024-01-15T00:00:00.000Z",
        "lastUpdatedDate": updated,
        "plannedRetirementDate": None,
        "retiredDate": None if kept else updated,
    }
    if kept and int(course["id"]) % 7 == 0:
        # Announced, not yet effective: the course stays active until Percipio retires it.
        lifecycle["plannedRetirementDate"] = "2027-06-30T00:00:00.000Z"
    return {
        "id": content_id(course["id"]),
        "xapiActivityId": f"https://xapi.percipio.com/xapi/course/{content_id(course['id'])}",
        "code": f"sk_{course['id']}",
        "contentType": {"percipioType": "COURSE", "category": "COURSE", "displayLabel": "Course"},
        "localeCodes": locales,
        "localizedMetadata": metadata,
        "lifecycle": lifecycle,
        "duration": _minutes_to_iso(course.get("duration")),
        "link": _launch_url(course.get("url")),
        "imageUrl": _image_url(course.get("image_url")),
    }


def _user_id(learner: int | None, email: str) -> str:
    """A learner's Percipio login; a record added with ``learner_id`` carries that one."""
    return f"u-{learner:06d}" if learner is not None else email.lower()


def report_records(state: SimState, since: int, until: int) -> list[dict[str, Any]]:
    """One record per learner and content accessed in [since, until): the progress at the last
    access in the window, the learner's total seconds on the content up to the window's end."""
    records = state.activity_listing(since, until, with_seconds=True)
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        by_key.setdefault((str(r["learner_email"]), str(r["course_id"])), []).append(r)
    totals = _seconds_before(state, until)
    titles = {cid: c.get("title") for cid, c in state.courses.items()}
    users = {email.lower(): i for i, email in enumerate(state.learners.emails)}
    out = []
    for (email, course_id), recs in sorted(by_key.items(), key=lambda kv: (kv[1][-1]["updated_at"], kv[0])):
        last = recs[-1]
        progress = last["progress"]
        done = last.get("completed_at") is not None
        learner = users.get(email.lower())
        in_window = sum(r.get("seconds_viewed") or 0 for r in recs)
        out.append(
            {
                "userId": last["learner_id"] if "learner_id" in last else _user_id(learner, email),
                "emailAddress": email,
                "firstName": "Learner",
                "lastName": str(learner) if learner is not None else "Guest",
                "contentUuid": content_id(course_id),
                "contentTitle": titles.get(course_id),
                "contentType": "Course",
                "status": "COMPLETED" if done else "STARTED",
                "percentOfBookOrVideo": progress,
                "duration": max(totals.get((email.lower(), course_id), 0), round(in_window)),
                "timesAccessed": len(recs),
                "firstAccess": _iso(recs[0].get("started_at") or recs[0]["updated_at"]),
                "lastAccess": _iso(last["updated_at"]),
                "completedDate": _iso(last["completed_at"]) if done else None,
            }
        )
    return out


def _seconds_before(state: SimState, until: int) -> dict[tuple[str, str], int]:
    """Each learner and course's seconds viewed before ``until`` (seeded and added activity)."""
    totals: dict[tuple[str, str], float] = {}
    for r in state.extra_in_range(0, until):
        key = (str(r["learner_email"]).lower(), str(r["course_id"]))
        totals[key] = totals.get(key, 0) + float(r.get("seconds_viewed") or 0)
    act = state.activity
    n = int(np.searchsorted(act.updated, until, "left"))
    if not n:
        return {k: round(v) for k, v in totals.items()}
    width = max(len(state.initial_course_ids), 1)
    keys = act.learner[:n].astype(np.int64) * width + act.course[:n]
    unique, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=state.seconds[:n])
    emails = state.learners.emails
    ids = state.initial_course_ids
    for k, s in zip(unique.tolist(), sums.tolist(), strict=True):
        key = (emails[int(k // width)].lower(), ids[int(k % width)])
        totals[key] = totals.get(key, 0) + s
    return {k: round(v) for k, v in totals.items()}


class Reports:
    """Report requests: each is ready after ``polls`` status answers (the fault ``report_polls``)."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, Any]] = {}

    def submit(self, since: int, until: int, polls: int) -> str:
        rid = secrets.token_hex(16)
        rid = f"{rid[:8]}-{rid[8:12]}-{rid[12:16]}-{rid[16:20]}-{rid[20:]}"
        self.requests[rid] = {"since": since, "until": until, "pending": polls}
        return rid


def routes(state: SimState) -> list[Route]:
    cfg = state.cfg
    reports = Reports()

    async def gate(request: Request) -> Response | None:
        # The service account's token is the simulator's client secret (printed as such).
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {cfg.client_secret}":
            return json_response({"errorCode": 401, "message": "Unauthorized: invalid bearer token"}, 401)
        if request.path_params["org"] != cfg.organization_id:
            return json_response({"errorCode": 403, "message": "Access denied to this organization"}, 403)
        return await fault_gate(request, state)

    def corrupt(items: list[Any], start: int, kind: str) -> list[Any]:
        """Records that break the contract in plain ways (fault malformed_share)."""

        def mutate(item: dict[str, Any], variant: int) -> None:
            if kind == "course" and variant == 0:
                item["duration"] = "about an hour"
            elif kind == "course" and variant == 1:
                item["id"] = None
            elif kind == "course":
                item["localeCodes"] = ["French"]
            elif variant == 0:
                item["percentOfBookOrVideo"] = 140
            elif variant == 1:
                item["contentUuid"] = None
            else:
                item["lastAccess"] = "yesterday"

        return malformed(state, items, start, mutate)

    async def catalog(request: Request) -> Response:
        denied = await gate(request)
        if denied:
            return denied
        q = request.query_params
        try:
            offset = int(q.get("offset", "0"))
            size = min(int(q.get("max", "1000")), MAX_PAGE)
        except ValueError:
            return json_response({"errorCode": 400, "message": "offset and max must be integers"}, 400)
        snapshots = state.paging_snapshots
        now = time.monotonic()
        for key in [k for k, (at, _) in snapshots.items() if now - at > PAGING_TTL_SECONDS]:
            snapshots.pop(key)
        paging = q.get("pagingRequestId")
        if paging is None:
            # The first page opens a snapshot: later pages read the catalogue as it was then.
            listing = with_hostile(
                state,
                [content(c, cfg.seed) for c in state.course_list()],
                "course",
                "courses",
                lambda item: str(item["id"]),
                course_variant,
            )
            paging = secrets.token_hex(8)
            snapshots[paging] = (now, listing)
        elif paging not in snapshots:
            return json_response({"errorCode": 400, "message": f"unknown or expired pagingRequestId {paging}"}, 400)
        listing = snapshots[paging][1]
        total = len(listing)
        shown = offset - 1 if state.faults.overlap_pages and offset > 0 else offset
        items = corrupt(listing[shown : shown + size], shown, "course")
        headers = {"x-total-count": str(announced_total(state, total)), "x-paging-request-id": paging}
        return respond(request, state, items_json(items), 200, headers)

    async def submit_report(request: Request) -> Response:
        denied = await gate(request)
        if denied:
            return denied
        try:
            body = await request.json()
            since, until = parse_rfc3339(body["start"]), parse_rfc3339(body["end"])
        except (ValueError, KeyError, TypeError):
            return json_response({"errorCode": 400, "message": "start and end must be ISO 8601 timestamps"}, 400)
        if until <= since:
            return json_response({"errorCode": 400, "message": "end must be after start"}, 400)
        rid = reports.submit(since, until, state.faults.report_polls)
        with state.lock:
            state.counters["report_jobs"] += 1
            failing = state.faults.report_submit_failures > 0
            if failing:
                state.faults.report_submit_failures -= 1
        if failing:
            return json_response({"errorCode": 500, "message": "Internal error"}, 500)
        return json_response({"id": state.faults.report_id or rid, "status": "PENDING"}, 202)

    async def report(request: Request) -> Response:
        denied = await gate(request)
        if denied:
            return denied
        job = reports.requests.get(request.path_params["rid"])
        if job is None:
            return json_response({"errorCode": 404, "message": "no such report request"}, 404)
        if job["pending"] > 0:
            job["pending"] -= 1
            return json_response({"id": request.path_params["rid"], "status": "IN_PROGRESS"})
        listing = with_hostile(
            state,
            report_records(state, job["since"], job["until"]),
            "activity",
            f"activity:{job['since']}/{job['until']}",
            lambda r: f"{r['emailAddress']}|{r['contentUuid']}|{r['lastAccess']}",
            activity_variant,
        )
        headers = {"x-total-count": str(announced_total(state, len(listing)))}
        return respond(request, state, items_json(corrupt(listing, 0, "activity")), 200, headers)

    org = "/{org}"
    return [
        Route(f"/content-discovery/v2/organizations{org}/catalog-content", catalog, methods=["GET"]),
        Route(f"/reporting/v1/organizations{org}/report-requests/learning-activity", submit_report, methods=["POST"]),
        Route(f"/reporting/v1/organizations{org}/report-requests/{{rid}}", report, methods=["GET"]),
        *contract_routes(CONTRACT),
    ]


# --- hostile records (fault hostile_share): the classes of simulator.hostile, in Percipio's shapes ---

COURSE_VARIANTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "nul_in_title": lambda r: hostile.nested(r, ("localizedMetadata", 0, "title"), "Python\x00 for all"),
    "lone_surrogate_in_description": lambda r: hostile.nested_raw(
        r, ("localizedMetadata", 0, "description"), b'"x \\ud800 y"'
    ),
    "control_character_in_status": lambda r: hostile.nested(r, ("lifecycle", "status"), "ACT\x07IVE"),
    "duration_of_millions_of_days": lambda r: hostile.nested(r, ("duration",), "P9999999D"),
    "updated_at_beyond_year_9999": lambda r: hostile.nested(
        r, ("lifecycle", "lastUpdatedDate"), "9999-12-31T23:59:59-01:00"
    ),
    "description_of_1_5_mb": lambda r: hostile.nested(
        r, ("localizedMetadata", 0, "description"), "lorem ipsum " * 131_072
    ),
    "id_of_3000_characters": lambda r: hostile.nested(r, ("id",), "9" * 3000),
    "locale_not_iso_639_1": lambda r: hostile.nested(r, ("localeCodes", 0), "xx-XX"),
    "javascript_launch_url": lambda r: hostile.nested(r, ("link",), "javascript:alert(1)"),
    "foreign_launch_url": lambda r: hostile.nested(r, ("link",), "https://share.percipio.com.evil.example/cd/1"),
    "lifecycle_is_an_array": lambda r: hostile.nested(r, ("lifecycle",), ["ACTIVE"]),
    "record_is_a_string": lambda r: orjson.dumps("not a course"),
    "nesting_2000_levels_deep": lambda r: hostile.nested_raw(r, ("id",), hostile.deep(2000)),
}

ACTIVITY_VARIANTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "progress_1000": lambda r: hostile.nested(r, ("percentOfBookOrVideo",), 1000),
    "progress_1e400": lambda r: hostile.nested_raw(r, ("percentOfBookOrVideo",), b"1e400"),
    "progress_nan": lambda r: hostile.nested_raw(r, ("percentOfBookOrVideo",), b"NaN"),
    "progress_is_a_string": lambda r: hostile.nested(r, ("percentOfBookOrVideo",), "50"),
    "duration_negative": lambda r: hostile.nested(r, ("duration",), -600),
    "first_access_unparseable": lambda r: hostile.nested(r, ("firstAccess",), "yesterday morning"),
    "completed_date_unparseable": lambda r: hostile.nested(r, ("completedDate",), "2026-13-45T99:99:99Z"),
    "nul_in_content_uuid": lambda r: hostile.nested(r, ("contentUuid",), f"{r['contentUuid']}\x00"),
    "lone_surrogate_in_email": lambda r: hostile.nested_raw(r, ("emailAddress",), b'"learner\\udc00@example.com"'),
    "content_uuid_of_3000_characters": lambda r: hostile.nested(r, ("contentUuid",), "9" * 3000),
    "record_is_an_array": lambda r: orjson.dumps([r]),
    "nesting_2000_levels_deep": lambda r: hostile.nested_raw(r, ("contentUuid",), hostile.deep(2000)),
}


def course_variant(record: dict[str, Any], n: int) -> hostile.Raw:
    name = list(COURSE_VARIANTS)[n % len(COURSE_VARIANTS)]
    twin = {**record, "id": f"{record['id']}-hostile-{n}"}
    return hostile.Raw(COURSE_VARIANTS[name](twin), name)


def activity_variant(record: dict[str, Any], n: int) -> hostile.Raw:
    name = list(ACTIVITY_VARIANTS)[n % len(ACTIVITY_VARIANTS)]
    return hostile.Raw(ACTIVITY_VARIANTS[name](record), name)
