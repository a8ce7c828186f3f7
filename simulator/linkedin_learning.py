"""The LinkedIn Learning API, as modelled by the project (contract: ``linkedin_learning.yaml``).

Modelled on LinkedIn's public reference: 2-legged OAuth 2 (client
credentials posted as a form to ``/oauth/v2/accessToken``), ``learningAssets``
(``q=criteria``) for the catalogue and ``learningActivityReports`` aggregated
by individual and content for learning activity, both paged with
``start``/``count`` and answered as ``{"elements": [...], "paging": {"start",
"count", "total"}}``. Timestamps are epoch milliseconds, locales a language
and a country, durations a value and a unit. A report's metrics cover its
window [startedAt, startedAt + timeOffset): the seconds viewed in it, the
progress at the last engagement in it.

The world is the same as the OpenClassrooms simulator's (``simulator.state``),
rendered in these shapes: a course is AVAILABLE when its world status is a
kept one (active, coming-soon, pre-registration), RETIRED otherwise.
"""

from __future__ import annotations

import pathlib
import re
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import data, hostile
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

MAX_COUNT = 100
CONTRACT = pathlib.Path(__file__).with_name("linkedin_learning.yaml")
# The LMS group of the demo connector (GET /_sim/lms-seed).
LMS_GROUP = ("grp-linkedin-learning", "LinkedIn Learning library")
COUNTRY = {"fr": "FR", "en": "US", "es": "ES", "de": "DE", "it": "IT", "pt": "BR", "nl": "NL"}
UNITS = {"DAY": 86_400_000, "WEEK": 7 * 86_400_000}
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?")


def printed_extras(state: SimState) -> dict[str, str]:
    """LinkedIn keys belong to one account: the client needs nothing besides URL and credentials."""
    return {}


def course_urn(course_id: str) -> str:
    return f"urn:li:lyndaCourse:{course_id}"


def _epoch_ms(value: Any) -> Any:
    try:
        return parse_rfc3339(str(value)) * 1000
    except ValueError:
        return value  # the world holds something no API would send: pass it on as it is


def _launch_url(world_url: Any) -> Any:
    """LinkedIn's launch URL of a world course (a URL a test set on purpose is served as it is)."""
    prefix = "https://openclassrooms.com/"
    if isinstance(world_url, str) and world_url.startswith(prefix):
        return "https://www.linkedin.com/learning/" + world_url.rstrip("/").rsplit("/", 1)[-1]
    return world_url


def _image_url(world_url: Any) -> Any:
    """Live learningAssets pages serve ``images.primary`` from cdn.lynda.com (the Lynda heritage;
    a URL a test set on purpose is served as it is)."""
    prefix = "https://user.oc-static.com/courses/"
    if isinstance(world_url, str) and world_url.startswith(prefix):
        return "https://cdn.lynda.com/course/" + world_url.removeprefix(prefix)
    return world_url


def asset(course: dict[str, Any]) -> dict[str, Any]:
    """A world course as a learningAssets element."""
    lang = course.get("language")
    locale = {"language": lang, "country": COUNTRY.get(str(lang), "US")}
    m = _ISO_DURATION.fullmatch(str(course.get("duration")))
    if m:
        days, hours, minutes = (int(g or 0) for g in m.groups())
        time_to_complete: dict[str, Any] = {"duration": (days * 1440 + hours * 60 + minutes) * 60, "unit": "SECOND"}
    else:
        time_to_complete = {"duration": course.get("duration"), "unit": "SECOND"}
    return {
        "urn": course_urn(course["id"]),
        "type": "COURSE",
        "title": {"value": course.get("title"), "locale": locale},
        "details": {
            "description": {"value": course.get("description"), "locale": locale},
            "shortDescription": {"value": str(course.get("description") or "")[:120], "locale": locale},
            "availability": "AVAILABLE" if course.get("status") in data.KEPT_STATUSES else "RETIRED",
            "timeToComplete": time_to_complete,
            "urls": {"webLaunch": _launch_url(course.get("url"))},
            "images": {"primary": _image_url(course.get("image_url"))},
            "lastUpdatedAt": _epoch_ms(course.get("updated_at")),
            "availableLocales": [locale],
        },
    }


def report_elements(state: SimState, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
    """One element per learner and course engaged in [since, until): seconds viewed in the window,
    progress at the last engagement in it, a completion if it reached 100."""
    records = state.activity_listing(since_ms // 1000, until_ms // 1000, with_seconds=True)
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        by_key.setdefault((str(r["learner_email"]), str(r["course_id"])), []).append(r)
    titles = {cid: c.get("title") for cid, c in state.courses.items()}
    langs = {cid: c.get("language") for cid, c in state.courses.items()}
    users = {email.lower(): i for i, email in enumerate(state.learners.emails)}
    out = []
    for (email, course_id), recs in sorted(by_key.items()):
        first, last = recs[0], recs[-1]
        first_ms, last_ms = _epoch_ms(first["updated_at"]), _epoch_ms(last["updated_at"])
        progress = last["progress"]
        # The API reports whole percents; a progress short of 100 never shows as 100. A value
        # outside 0-100 (a record a test added to break the contract) is served as it is.
        shown = progress
        if isinstance(progress, int | float) and 0 <= progress <= 100:
            shown = 100 if progress >= 100 else int(progress)
        seconds = sum(r.get("seconds_viewed") or 0 for r in recs)
        learner = users.get(email.lower())
        lang = langs.get(course_id)

        out.append(
            {
                "learnerDetails": {
                    "name": last.get("learner_name") or (f"Learner {learner}" if learner is not None else "Guest"),
                    "email": email,
                    "uniqueUserId": last["learner_id"] if "learner_id" in last else _unique_user_id(learner),
                    "entity": {"profileUrn": f"urn:li:person:{zlib.crc32(email.lower().encode())}"},
                },
                "contentDetails": {
                    "contentProviderName": "LinkedIn",
                    "name": titles.get(course_id),
                    "contentUrn": course_urn(course_id),
                    "locale": {"language": lang, "country": COUNTRY.get(str(lang), "US")},
                },
                "activities": [
                    _activity("SECONDS_VIEWED", seconds, first_ms, last_ms),
                    _activity("PROGRESS_PERCENTAGE", shown, first_ms, last_ms),
                    _activity("COMPLETIONS", 1 if shown == 100 else 0, first_ms, last_ms),
                ],
                "latestDataAt": latest_data_at(state, until_ms),
            }
        )
    return out


def _unique_user_id(learner: int | None) -> str | None:
    """The id the enterprise gave a learner (its SSO's); a record added with ``learner_id`` carries that one."""
    return f"u-{learner:06d}" if learner is not None else None


def latest_data_at(state: SimState, until_ms: int) -> int:
    """How fresh a report's data is: its window's end, or the provider's publication clock if earlier."""
    return min(until_ms, state.data_clock() * 1000) - 1


def _activity(kind: str, value: Any, first_ms: Any, last_ms: Any) -> dict[str, Any]:
    return {
        "engagementType": kind,
        "engagementValue": value,
        "engagementMetricQualifier": "TOTAL",
        "assetType": "COURSE",
        "firstEngagedAt": first_ms,
        "lastEngagedAt": last_ms,
    }


def routes(state: SimState) -> list[Route]:
    cfg = state.cfg

    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return error(400, "unsupported_grant_type")
        if form.get("client_id") != cfg.client_id or form.get("client_secret") != cfg.client_secret:
            return error(401, "invalid_client", "Client authentication failed")
        tok, lifetime = state.issue_token()
        return json_response({"access_token": tok, "expires_in": lifetime})

    async def gate(request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not state.check_token(auth[7:]):
            return json_response(
                {
                    "status": 401,
                    "serviceErrorCode": 65600,
                    "code": "INVALID_ACCESS_TOKEN",
                    "message": "Invalid access token",
                },
                401,
            )
        if request.query_params.get("q") != "criteria":
            return json_response({"status": 400, "code": "ILLEGAL_ARGUMENT", "message": "q must be criteria"}, 400)
        return await fault_gate(request, state)

    def window(request: Request) -> tuple[int, int]:
        q = request.query_params
        if q.get("aggregationCriteria.primary") != "INDIVIDUAL" or q.get("aggregationCriteria.secondary") != "CONTENT":
            raise ValueError("this simulator reports by INDIVIDUAL then CONTENT")
        unit = q.get("timeOffset.unit", "")
        if unit not in UNITS:
            raise ValueError(f"timeOffset.unit must be one of {', '.join(UNITS)}")
        since = int(q["startedAt"])
        return since, since + int(q["timeOffset.duration"]) * UNITS[unit]

    def paged(request: Request, listing: list[Any], kind: str) -> Response:
        q = request.query_params
        try:
            start = int(q.get("start", "0"))
            count = min(int(q.get("count", "10")), MAX_COUNT)
        except ValueError:
            return json_response({"status": 400, "code": "ILLEGAL_ARGUMENT", "message": "start and count"}, 400)
        total = len(listing)
        items = corrupt(listing[start : start + count], start, kind)
        shown_start = start
        if state.faults.overlap_pages and start > 0:
            shown_start, items = start - 1, [listing[start - 1], *items][:count]
        body: dict[str, Any] = {
            "paging": {"start": shown_start, "count": count, "total": announced_total(state, total), "links": []}
        }
        if kind == "activity":
            # Inferred: an empty report says how fresh it is too (elements each carry latestDataAt).
            body["metadata"] = {"latestDataAt": latest_data_at(state, window(request)[1])}
        # The elements are written as they come (hostile ones as their exact bytes).
        raw = items_json(items)
        text = b'{"elements":' + raw + b"," + orjson.dumps(body)[1:]
        return respond(request, state, text, 200, {"X-RestLi-Protocol-Version": "2.0.0"})

    def corrupt(items: list[Any], start: int, kind: str) -> list[Any]:
        """Records that break the contract in plain ways (fault malformed_share)."""

        def mutate(item: dict[str, Any], variant: int) -> None:
            if kind == "course" and variant == 0:
                item["details"]["timeToComplete"]["unit"] = "FORTNIGHT"
            elif kind == "course" and variant == 1:
                item["urn"] = None
            elif kind == "course":
                item["title"]["locale"]["language"] = "French"
            elif variant == 0:
                _metric(item, "PROGRESS_PERCENTAGE")["engagementValue"] = 140
            elif variant == 1:
                item["contentDetails"]["contentUrn"] = None
            else:
                _metric(item, "PROGRESS_PERCENTAGE")["lastEngagedAt"] = None

        return malformed(state, items, start, mutate)

    async def assets(request: Request) -> Response:
        denied = await gate(request)
        if denied:
            return denied
        listing = with_hostile(
            state,
            [asset(c) for c in state.course_list()],
            "course",
            "courses",
            lambda a: str(a["urn"]),
            course_variant,
        )
        return paged(request, listing, "course")

    async def reports(request: Request) -> Response:
        denied = await gate(request)
        if denied:
            return denied
        try:
            since_ms, until_ms = window(request)
        except (KeyError, ValueError) as exc:
            return json_response({"status": 400, "code": "ILLEGAL_ARGUMENT", "message": str(exc)}, 400)
        listing = with_hostile(
            state,
            report_elements(state, since_ms, until_ms),
            "activity",
            f"activity:{since_ms // 1000}/{until_ms // 1000}",
            lambda e: f"{e['learnerDetails']['email']}|{e['contentDetails']['contentUrn']}",
            activity_variant,
        )
        return paged(request, listing, "activity")

    return [
        Route("/oauth/v2/accessToken", token, methods=["POST"]),
        Route("/v2/learningAssets", assets, methods=["GET"]),
        Route("/v2/learningActivityReports", reports, methods=["GET"]),
        *contract_routes(CONTRACT),
    ]


# --- hostile records (fault hostile_share): the classes of simulator.hostile, in LinkedIn's shapes ---

COURSE_VARIANTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "nul_in_title": lambda r: hostile.nested(r, ("title", "value"), "Python\x00 for all"),
    "lone_surrogate_in_description": lambda r: hostile.nested_raw(
        r, ("details", "description", "value"), b'"x \\ud800 y"'
    ),
    "title_is_a_string": lambda r: hostile.nested(r, ("title",), "Python for all"),
    "details_is_an_array": lambda r: hostile.nested(r, ("details",), ["AVAILABLE"]),
    "duration_1e400": lambda r: hostile.nested_raw(r, ("details", "timeToComplete", "duration"), b"1e400"),
    "duration_in_fortnights": lambda r: hostile.nested(r, ("details", "timeToComplete", "unit"), "FORTNIGHT"),
    "updated_in_year_33658": lambda r: hostile.nested(r, ("details", "lastUpdatedAt"), 10**15),
    "description_of_1_5_mb": lambda r: hostile.nested(r, ("details", "description", "value"), "lorem ipsum " * 131_072),
    "urn_of_3000_characters": lambda r: hostile.nested(r, ("urn",), "urn:li:lyndaCourse:" + "9" * 3000),
    "language_not_iso_639_1": lambda r: hostile.nested(r, ("title", "locale", "language"), "xx"),
    "javascript_launch_url": lambda r: hostile.nested(r, ("details", "urls", "webLaunch"), "javascript:alert(1)"),
    "foreign_launch_url": lambda r: hostile.nested(
        r, ("details", "urls", "webLaunch"), "https://www.linkedin.com@evil.example/learning/x"
    ),
    "record_is_a_string": lambda r: orjson.dumps("not a course"),
    "nesting_2000_levels_deep": lambda r: hostile.nested_raw(r, ("title", "value"), hostile.deep(2000)),
}

ACTIVITY_VARIANTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "progress_1000": lambda r: hostile.nested(r, ("activities", "PROGRESS_PERCENTAGE", "engagementValue"), 1000),
    "progress_1e400": lambda r: hostile.nested_raw(
        r, ("activities", "PROGRESS_PERCENTAGE", "engagementValue"), b"1e400"
    ),
    "progress_nan": lambda r: hostile.nested_raw(r, ("activities", "PROGRESS_PERCENTAGE", "engagementValue"), b"NaN"),
    "seconds_negative": lambda r: hostile.nested(r, ("activities", "SECONDS_VIEWED", "engagementValue"), -600),
    "seconds_10_pow_30": lambda r: hostile.nested_raw(
        r, ("activities", "SECONDS_VIEWED", "engagementValue"), b"1" + b"0" * 30
    ),
    "progress_is_a_string": lambda r: hostile.nested(r, ("activities", "PROGRESS_PERCENTAGE", "engagementValue"), "50"),
    "engaged_in_year_5138": lambda r: hostile.nested(r, ("activities", "PROGRESS_PERCENTAGE", "lastEngagedAt"), 10**14),
    "activities_is_an_object": lambda r: hostile.nested(r, ("activities",), {"PROGRESS_PERCENTAGE": 50}),
    "learner_details_is_a_string": lambda r: hostile.nested(r, ("learnerDetails",), "someone"),
    "nul_in_email": lambda r: hostile.nested(r, ("learnerDetails", "email"), "learner\x00@example.com"),
    "content_urn_of_3000_characters": lambda r: hostile.nested(
        r, ("contentDetails", "contentUrn"), "urn:" + "9" * 3000
    ),
    "record_is_an_array": lambda r: orjson.dumps([r]),
    "nesting_2000_levels_deep": lambda r: hostile.nested_raw(r, ("contentDetails", "contentUrn"), hostile.deep(2000)),
}


def course_variant(record: dict[str, Any], n: int) -> hostile.Raw:
    name = list(COURSE_VARIANTS)[n % len(COURSE_VARIANTS)]
    twin = {**record, "urn": f"{record['urn']}-hostile-{n}"}
    return hostile.Raw(COURSE_VARIANTS[name](twin), name)


def activity_variant(record: dict[str, Any], n: int) -> hostile.Raw:
    name = list(ACTIVITY_VARIANTS)[n % len(ACTIVITY_VARIANTS)]
    return hostile.Raw(ACTIVITY_VARIANTS[name](record), name)


def _metric(element: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(a for a in element["activities"] if a["engagementType"] == kind)
