"""The client contract every provider keeps, against its simulator over real HTTP.

One suite, run for every provider of the registry: auth, paging, faults and retries, hostile
records, replay order (the same world read twice, or by a twin simulator, gives the same records
in the same order) and late data. A provider's own peculiarities (its token request, its report
job, its regions) are in ``test_<provider>_client.py``; anything every client must do is here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import logging
import math
import re
import threading
import time
from typing import Any

import pytest
import requests

from lms_connectors import providers
from lms_connectors.providers.http import Abandoned
from lms_connectors.rules import guard, records
from lms_connectors.rules.errors import (
    ListingChanged,
    ProviderAuthError,
    ProviderPagingError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from lms_connectors.rules.jsonpage import UndecodableRecord
from simulator import launch
from tests.builders import (
    FAST_RETRY,
    PROVIDERS,
    SIM_ARGS,
    RecordingSleep,
    provider_client,
    set_faults,
    set_history,
    sim_state,
    world_courses,
)

pytestmark = pytest.mark.integration
DAY = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
NEXT = DAY + dt.timedelta(days=1)
SECRET = "s3cr3t-wrong-value"


@pytest.fixture(params=PROVIDERS)
def provider_name(request) -> str:
    return request.param


@pytest.fixture
def provider(provider_name: str) -> providers.Provider:
    return providers.get(provider_name)


def client(sim, **overrides: Any) -> Any:
    return provider_client(sim, **{"page_size": 25, "sleep": RecordingSleep(), **overrides})


def all_courses(c: Any) -> list[Any]:
    return [item for page in c.iter_course_pages() for item in page]


def day_activity(c: Any, since: dt.datetime = DAY, until: dt.datetime = NEXT) -> list[Any]:
    return [r for page in c.iter_activity_pages(since, until) for r in page]


def course_id(provider: providers.Provider, item: Any) -> Any:
    return guard.lookup(item, provider.course_schema.field("id").path)


def touched_at(provider: providers.Provider, record: Any) -> dt.datetime:
    """When a learner last moved: the record's updated_at, in the provider's own encoding."""
    raw = guard.lookup(record, provider.activity_schema.field(records.UPDATED_AT).path)
    return provider.timestamps.parse(raw)


# --- paging ---------------------------------------------------------------------------------
def test_paging_reads_every_course_once_over_many_pages(sim, provider):
    c = client(sim, page_size=7)
    pages = list(c.iter_course_pages())
    ids = [course_id(provider, item) for page in pages for item in page]
    total = len(world_courses(sim))
    assert len(ids) == total == len(set(ids))
    assert len(pages) == math.ceil(total / 7) == c.stats["pages"]
    assert all(len(p) == 7 for p in pages[:-1])


def test_activity_is_the_interval_only_and_reads_the_same_every_time(sim, provider):
    first = day_activity(client(sim, page_size=50))
    assert first, "the seeded world has activity every day"
    assert all(DAY <= touched_at(provider, r) < NEXT for r in first)
    assert day_activity(client(sim, page_size=9)) == first, "the page size changes nothing, order included"


@pytest.mark.parametrize("faults", [{"total_offset": 1}, {"total_offset": -1}], ids=["more", "fewer"])
def test_a_total_that_does_not_add_up_fails(sim, faults):
    set_faults(sim, **faults)
    with pytest.raises(ProviderPagingError):
        all_courses(client(sim, page_size=50))


def test_overlapping_pages_fail_after_being_asked_again(sim):
    """The first bad page is the failure, as one request at a time would find it; each page in
    flight was asked again within the retry bounds."""
    set_faults(sim, overlap_pages=True)
    sleep = RecordingSleep()
    c = client(sim, sleep=sleep)
    with pytest.raises(ProviderPagingError, match=r"from 25\b.*overlapping"):
        all_courses(c)
    retries = FAST_RETRY.max_attempts - 1
    assert retries <= len(sleep.waits) <= c.concurrent_requests * retries


def test_one_page_at_a_time_an_overlap_is_caught_within_the_page_request(sim):
    """With no page ahead, the page is asked knowing the item before it: the first page, then
    the overlapping page's attempts, and no request more."""
    set_faults(sim, overlap_pages=True)
    c = client(sim, concurrent_requests=1)
    with pytest.raises(ProviderPagingError, match=r"from 25\b.*overlapping"):
        all_courses(c)
    assert c.stats["requests"] - c.stats["token_fetches"] == 1 + FAST_RETRY.max_attempts


def test_a_total_that_moves_while_paging_is_a_changed_listing_read_again_whole(sim, provider):
    set_faults(sim, total_change_burst=1)
    with pytest.raises(ListingChanged, match=r"the total changed while paging"):
        all_courses(client(sim))
    assert len(all_courses(client(sim))) == len(world_courses(sim))


# --- pages read ahead -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "faults",
    [
        {},
        {"error_rate": 0.1, "malformed_json_rate": 0.05, "rate_limit_rate": 0.05, "retry_after": 0.01},
    ],
    ids=["clean", "faults"],
)
def test_pages_read_ahead_are_the_same_records_in_the_same_order_as_one_at_a_time(sim, faults):
    # Faults fall on whichever request comes: ten attempts make a page that fails them all unlikely.
    retry = dataclasses.replace(FAST_RETRY, max_attempts=10)
    set_faults(sim, **faults)
    ahead = client(sim, page_size=7, concurrent_requests=8, retry=retry)
    courses, activity = all_courses(ahead), day_activity(ahead, DAY, DAY + dt.timedelta(days=2))
    set_faults(sim, **faults)
    one = client(sim, page_size=7, concurrent_requests=1, retry=retry)
    assert all_courses(one) == courses
    assert day_activity(one, DAY, DAY + dt.timedelta(days=2)) == activity
    assert ahead.stats["pages"] == one.stats["pages"] > 2


def test_a_reader_that_stops_after_the_first_page_asks_for_no_other(sim):
    c = client(sim, page_size=5, concurrent_requests=4)
    pages = c.iter_course_pages()
    assert next(pages)
    pages.close()
    assert c.stats["requests"] - c.stats["token_fetches"] == 1


def test_pages_asked_ahead_stop_once_their_reader_has_failed(sim):
    c = client(sim, page_size=5, concurrent_requests=4, sleep=time.sleep)
    pages = c.iter_course_pages()
    next(pages)
    set_faults(sim, error_rate=1.0, latency_ms=20)
    with pytest.raises(ProviderUnavailableError):
        list(pages)
    time.sleep(0.5)
    sent = c.stats["requests"]
    time.sleep(0.5)
    assert c.stats["requests"] == sent
    assert not [t for t in threading.enumerate() if t.name.startswith("page-ahead")]


def test_an_abandoned_request_starts_no_attempt(sim):
    c = client(sim)
    gone = threading.Event()
    gone.set()
    with pytest.raises(Abandoned):
        c.get("/", {}, {}, lambda resp, body: body, gone)
    assert c.stats["requests"] == 0


class _Timed(requests.Session):
    """A session that notes when each request was sent and when its answer came."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[float, float, int]] = []

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        started = time.monotonic()
        resp = super().request(*args, **kwargs)
        self.sent.append((started, time.monotonic(), resp.status_code))
        return resp


def test_a_429_holds_every_request_of_the_client_until_retry_after(sim):
    """One page's 429 holds the pages read beside it: no request leaves the client between the
    answer and the end of its Retry-After (the requests already sent finish)."""
    session = _Timed()
    c = client(sim, page_size=5, concurrent_requests=4, sleep=time.sleep, session=session)
    pages = c.iter_course_pages()
    read = len(next(pages)) + len(next(pages))
    time.sleep(0.3)  # the pages asked ahead are in: the 429 falls on the next one asked, further ahead
    set_faults(sim, rate_limit_burst=1, retry_after=0.6)
    for page in pages:
        read += len(page)
        time.sleep(0.05)  # a reader with work to do: pages are asked while the 429 holds
    assert read == len(world_courses(sim))
    (answered,) = [end for _, end, status in session.sent if status == 429]
    held = [start for start, _, _ in session.sent if answered + 0.02 < start]
    assert held and min(held) >= answered + 0.6
    assert c.stats["rate_limit_waits"] >= 1


# --- auth -----------------------------------------------------------------------------------
def test_bad_credentials_fail_at_once_and_the_secret_is_never_shown(sim, caplog):
    sleep = RecordingSleep()
    c = client(sim, sleep=sleep)
    c._secret = SECRET
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderAuthError) as err:
        all_courses(c)
    assert sleep.waits == []
    assert SECRET not in str(err.value) and SECRET not in caplog.text and SECRET not in repr(c)


def test_a_token_that_expires_mid_paging_is_renewed_and_the_listing_completes(sim, provider):
    if provider.credentials == "token":
        pytest.skip("a static service-account token does not expire (credentials = 'token')")
    set_faults(sim, token_max_uses=3)
    c = client(sim, page_size=10)
    assert len({course_id(provider, i) for i in all_courses(c)}) == len(world_courses(sim))
    assert c.stats["token_fetches"] >= 2


# --- faults and retries ---------------------------------------------------------------------
def test_429_waits_for_retry_after_then_completes(sim):
    """Both answers are retried after Retry-After; the waits beyond theirs are the requests held by
    the client's rate gate (none with real sleeps, whose hold is over before the pages read ahead)."""
    set_faults(sim, rate_limit_burst=2, retry_after=0.4)
    sleep = RecordingSleep()
    c = client(sim, sleep=sleep)
    assert len(all_courses(c)) == len(world_courses(sim))
    assert c.stats["retries"] == 2
    assert len(sleep.waits) == 2 + c.stats["rate_limit_waits"]
    # The two retries wait Retry-After; the gate holds a request for what is left of it, which depends
    # on how long the client took to get there (0.21 s on a loaded machine): never longer.
    assert sum(0.3 <= w <= 0.5 for w in sleep.waits) >= 2, sleep.waits
    assert all(0 < w <= 0.5 for w in sleep.waits), sleep.waits


def test_retry_after_is_capped(sim):
    set_faults(sim, rate_limit_burst=1, retry_after=3600)
    sleep = RecordingSleep()
    c = client(sim, sleep=sleep)
    all_courses(c)
    assert c.stats["retries"] == 1 and len(sleep.waits) == 1 + c.stats["rate_limit_waits"]
    assert max(sleep.waits) <= FAST_RETRY.max_retry_after + 0.5


@pytest.mark.parametrize("faults", [{"error_burst": 3, "error_status": 502}, {"reset_burst": 3}], ids=["5xx", "reset"])
def test_a_burst_of_failures_is_retried_and_the_listing_completes(sim, provider, faults):
    set_faults(sim, **faults)
    c = client(sim)
    assert len({course_id(provider, i) for i in all_courses(c)}) == len(world_courses(sim))
    assert c.stats["retries"] == 3
    assert sim_state(sim)["counters"]["faulted"] == 3


def test_5xx_that_persists_fails_clearly_after_the_retries(sim):
    set_faults(sim, error_rate=1.0)
    sleep = RecordingSleep()
    with pytest.raises(ProviderUnavailableError, match=r"still failing after 5 attempts: HTTP 503"):
        all_courses(client(sim, sleep=sleep))
    assert len(sleep.waits) == 4


def test_a_read_timeout_is_retried_then_exhausted(sim):
    set_faults(sim, latency_ms=400)
    with pytest.raises(ProviderUnavailableError, match="after 5 attempts"):
        all_courses(client(sim, read_timeout=0.1))


def test_a_request_given_up_during_its_latency_takes_nothing_of_the_next_faults(sim):
    """The simulator's own isolation: an abandoned request still waiting in the simulator must not
    take a burst set after it (it once made the next test see one malformed page instead of two)."""
    set_faults(sim, latency_ms=400)
    with pytest.raises(ProviderUnavailableError):
        all_courses(client(sim, read_timeout=0.1, retry=dataclasses.replace(FAST_RETRY, max_attempts=1)))
    set_faults(sim, latency_ms=0, malformed_json_burst=1)
    time.sleep(0.6)  # the abandoned request wakes up meanwhile
    c = client(sim)
    all_courses(c)
    assert c.stats["retries"] == 1


def test_a_malformed_or_truncated_page_is_asked_again(sim, provider):
    set_faults(sim, malformed_json_burst=2)
    c = client(sim)
    ids = [course_id(provider, i) for i in all_courses(c)]
    assert len(ids) == len(world_courses(sim)) == len(set(ids))
    assert c.stats["retries"] == 2


def test_malformed_json_that_persists_fails_clearly_after_the_retries(sim):
    set_faults(sim, malformed_json_rate=1.0)
    with pytest.raises(ProviderResponseError, match=r"still failing after 5 attempts: .*malformed JSON"):
        all_courses(client(sim))


def test_a_trickling_response_hits_the_request_deadline_and_is_retried(sim):
    set_faults(sim, trickle_burst=1, trickle_delay_ms=100)
    c = client(sim, page_size=100, retry=dataclasses.replace(FAST_RETRY, max_request_seconds=0.5))
    t0 = time.monotonic()
    assert len(all_courses(c)) == len(world_courses(sim))
    # A trickled page of 100 courses (tens of KB, 256 bytes every 0.1 s) would take many seconds.
    assert time.monotonic() - t0 < 5
    assert c.stats["retries"] == 1


def test_an_oversized_response_is_refused(sim):
    with pytest.raises(ProviderResponseError, match="exceeds 1,000 bytes"):
        all_courses(client(sim, page_size=100, max_response_bytes=1_000))


# --- hostile and malformed records ----------------------------------------------------------
def test_hostile_records_reach_the_caller_one_by_one_without_refusing_the_page(sim):
    clean = all_courses(client(sim))
    set_faults(sim, hostile_share=0.3)
    items = all_courses(client(sim, page_size=50))
    served = sum(sim_state(sim)["hostile_listed"]["courses"].values())
    assert served > 10
    assert len(items) == len(clean) + served
    # Every clean record arrives as it is, and in its place; the hostile ones arrive beside them.
    assert [i for i in items if i in clean] == clean
    assert any(isinstance(i, UndecodableRecord) for i in items)  # the 2000-level nesting


def test_malformed_records_are_served_as_data_and_refused_by_the_rules(sim, provider):
    set_faults(sim, malformed_share=0.2)
    items = all_courses(client(sim))
    assert len(items) == len(world_courses(sim))

    def refused(item: Any) -> bool:
        screened = guard.screen(item, provider.course_schema)
        return screened.reason is not None or provider.course_row(screened.record).get("reject_reason") is not None

    assert 5 <= sum(map(refused, items)) <= 0.45 * len(items)


# --- replay order ---------------------------------------------------------------------------
def test_a_twin_simulator_serves_the_same_records_in_the_same_order_and_another_seed_others(sim):
    mine = all_courses(client(sim, page_size=100))
    my_activity = day_activity(client(sim, page_size=100), DAY, DAY + dt.timedelta(days=2))
    other_args = ["--seed", "8", *SIM_ARGS[2:], "--provider", sim.provider]
    with launch.running([*SIM_ARGS, "--provider", sim.provider]) as twin, launch.running(other_args) as other:
        assert all_courses(client(twin, page_size=100)) == mine
        assert day_activity(client(twin, page_size=100), DAY, DAY + dt.timedelta(days=2)) == my_activity
        theirs = all_courses(client(other, page_size=100))
        assert theirs != mine and len(theirs) == len(mine)


# --- late data ------------------------------------------------------------------------------
def test_a_day_still_being_published_is_served_in_part_and_says_so_where_the_provider_can(sim, provider):
    """The provider's clock is an hour past the day's end and it publishes 6 h late: only what is
    published is served; a provider that reports its freshness says the day is not covered yet."""
    whole = day_activity(client(sim))
    set_history(sim, "snapshots", (NEXT + dt.timedelta(hours=1)).isoformat())
    set_faults(sim, data_lag_hours=6)
    published = NEXT - dt.timedelta(hours=5)
    part = day_activity(client(sim))
    # Only what was published by then (a provider that aggregates a day reports the part it has).
    assert part and all(touched_at(provider, r) < published for r in part)
    assert len(part) <= len(whole) and part != whole
    c = client(sim)
    if provider.freshness == "reported":
        covered = c.activity_covered_until(DAY, NEXT)
        assert covered is not None and covered <= published
        set_history(sim, "snapshots", None)
        set_faults(sim, data_lag_hours=0)
        assert c.activity_covered_until(DAY, NEXT) >= NEXT
    else:
        assert not hasattr(c, "activity_covered_until"), "freshness 'on_time' says the client cannot tell"


# --- the contract document ------------------------------------------------------------------
def test_the_contract_document_holds_every_path_the_client_calls(sim, provider):
    contract = importlib.import_module(f"lms_connectors.providers.{provider.name}.contract")
    called = {template(v) for k, v in vars(contract).items() if k.endswith("_PATH") and isinstance(v, str)}
    spec = requests.get(f"{sim.url}/openapi.json", timeout=10).json()
    assert called and called <= {template(path) for path in spec["paths"]}


def template(path: str) -> str:
    """A path template as the wire sees it: its parameters' names are the document's business."""
    return re.sub(r"\{[^}]*\}", "{}", path)
