"""The production client against the real simulator over HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time

import pytest
import requests

from lms_connectors.providers.openclassrooms.client import (
    ListingChanged,
    ProviderAuthError,
    ProviderForbiddenError,
    ProviderPagingError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from simulator import launch
from tests.builders import FAST_RETRY, SIM_ARGS, RecordingSleep, make_client, set_faults, sim_state

pytestmark = pytest.mark.integration
DAY = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)


def all_courses(client) -> list[dict]:
    return [c for page in client.iter_course_pages() for c in page]


def test_token_and_first_page_follow_the_contract(sim):
    token = requests.post(
        f"{sim.url}/oauth2/token",
        auth=(sim.client_id, sim.client_secret),
        data={"grant_type": "client_credentials", "scope": "learning_content"},
        timeout=10,
    ).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    resp = requests.get(
        f"{sim.url}/organizations/{sim.organization_id}/courses",
        headers={"Authorization": f"Bearer {token['access_token']}", "Range": "items=0-9"},
        timeout=10,
    )
    assert resp.status_code == 206
    assert resp.headers["Content-Range"] == "items 0-9/120"
    assert len(resp.json()) == 10


def test_paging_reads_every_course_once_over_many_pages(sim):
    client = make_client(sim, page_size=7)
    pages = list(client.iter_course_pages())
    ids = [c["id"] for page in pages for c in page]
    assert len(pages) == 18  # ceil(120 / 7)
    assert len(ids) == 120 == len(set(ids))
    assert all(len(p) == 7 for p in pages[:-1]) and len(pages[-1]) == 120 - 17 * 7


def test_activity_is_the_interval_only_and_ordered(sim):
    client = make_client(sim, page_size=50)
    records = [r for p in client.iter_activity_pages(DAY, DAY + dt.timedelta(days=1)) for r in p]
    assert records, "the seeded scenario has activity every day"
    stamps = [r["updated_at"] for r in records]
    assert all("2026-11-03T00:00:00Z" <= s < "2026-11-04T00:00:00Z" for s in stamps)
    keys = [(r["updated_at"], r["learner_email"], r["course_id"]) for r in records]
    assert keys == sorted(keys)


def test_token_expiry_mid_paging_refreshes_once_and_completes(sim):
    set_faults(sim, token_max_uses=3)
    client = make_client(sim, page_size=10)
    ids = [c["id"] for c in all_courses(client)]
    assert len(ids) == 120 == len(set(ids))
    # 12 pages with 3 uses per token: the client had to fetch new tokens.
    assert client.stats["token_fetches"] >= 4


def test_429_waits_for_retry_after(sim):
    set_faults(sim, rate_limit_burst=2, retry_after=0.4)
    sleep = RecordingSleep()
    client = make_client(sim, sleep=sleep)
    assert len(all_courses(client)) == 120
    assert len(sleep.waits) == 2
    assert all(0.4 <= w <= 0.5 for w in sleep.waits), sleep.waits


def test_retry_after_is_capped(sim):
    set_faults(sim, rate_limit_burst=1, retry_after=3600)
    sleep = RecordingSleep()
    client = make_client(sim, sleep=sleep)
    all_courses(client)
    assert len(sleep.waits) == 1 and sleep.waits[0] <= 5.5  # FAST_RETRY caps at 5 s


def test_5xx_burst_then_success_with_growing_backoff(sim):
    set_faults(sim, error_burst=3, error_status=502)
    sleep = RecordingSleep()
    client = make_client(sim, sleep=sleep)
    assert len(all_courses(client)) == 120
    assert len(sleep.waits) == 3
    assert client.stats["retries"] == 3


def test_connection_reset_is_retried(sim):
    set_faults(sim, reset_burst=2)
    client = make_client(sim, sleep=RecordingSleep())
    assert len(all_courses(client)) == 120
    assert client.stats["retries"] == 2


def test_read_timeout_is_retried_then_exhausted(sim):
    set_faults(sim, latency_ms=400)
    client = make_client(sim, read_timeout=0.1, sleep=RecordingSleep())
    with pytest.raises(ProviderUnavailableError, match="after 5 attempts"):
        all_courses(client)


def test_retries_exhausted_is_a_clear_error(sim):
    set_faults(sim, error_rate=1.0)
    sleep = RecordingSleep()
    client = make_client(sim, sleep=sleep)
    with pytest.raises(ProviderUnavailableError, match=r"still failing after 5 attempts: HTTP 503"):
        all_courses(client)
    assert len(sleep.waits) == 4


def test_bad_credentials_fail_at_once_without_retry(sim, caplog):
    sleep = RecordingSleep()
    client = make_client(sim, client_secret="s3cr3t-wrong-value", sleep=sleep)
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderAuthError, match="invalid_client") as err:
        all_courses(client)
    assert sleep.waits == []
    assert "s3cr3t-wrong-value" not in str(err.value)
    assert "s3cr3t-wrong-value" not in caplog.text
    assert "s3cr3t-wrong-value" not in repr(client)


def test_wrong_organization_is_forbidden_without_retry(sim):
    sleep = RecordingSleep()
    client = make_client(sim, organization_id="org-someone-else", sleep=sleep)
    with pytest.raises(ProviderForbiddenError, match="org-someone-else"):
        all_courses(client)
    assert sleep.waits == []


def test_total_that_does_not_add_up_fails(sim):
    set_faults(sim, total_offset=1)
    with pytest.raises(ProviderPagingError, match="announced 121"):
        all_courses(make_client(sim))


def test_total_smaller_than_served_fails(sim):
    set_faults(sim, total_offset=-1)
    with pytest.raises(ProviderPagingError):
        all_courses(make_client(sim, page_size=500))


def test_overlapping_pages_fail(sim):
    set_faults(sim, overlap_pages=True)
    with pytest.raises(ProviderPagingError, match="overlapping"):
        all_courses(make_client(sim))


def test_a_malformed_or_truncated_page_is_asked_again(sim):
    set_faults(sim, malformed_json_burst=2)
    client = make_client(sim, sleep=RecordingSleep())
    ids = [c["id"] for c in all_courses(client)]
    assert len(ids) == 120 == len(set(ids))
    assert client.stats["retries"] == 2


def test_malformed_json_that_persists_fails_clearly_after_the_retries(sim):
    set_faults(sim, malformed_json_rate=1.0)
    sleep = RecordingSleep()
    with pytest.raises(ProviderResponseError, match=r"still failing after 5 attempts: .*malformed JSON"):
        all_courses(make_client(sim, sleep=sleep))
    assert len(sleep.waits) == 4


def test_a_total_that_moves_while_paging_is_reported_as_a_changed_listing(sim):
    set_faults(sim, total_change_burst=1)
    with pytest.raises(ListingChanged, match=r"the total changed while paging \(121 -> 120\)"):
        all_courses(make_client(sim))
    # Read again from the start, the listing is whole.
    assert len(all_courses(make_client(sim))) == 120


def test_a_trickling_response_hits_the_request_deadline_and_is_retried(sim):
    set_faults(sim, trickle_burst=1, trickle_delay_ms=100)
    retry = dataclasses.replace(FAST_RETRY, max_request_seconds=0.5)
    client = make_client(sim, page_size=100, retry=retry, sleep=RecordingSleep())
    t0 = time.monotonic()
    assert len(all_courses(client)) == 120
    # The trickled page (about 25 KB, 256 bytes every 0.1 s) would have taken 10 s.
    assert time.monotonic() - t0 < 5
    assert client.stats["retries"] == 1


def test_an_oversized_response_is_refused(sim):
    client = make_client(sim, page_size=100, max_response_bytes=1_000, sleep=RecordingSleep())
    with pytest.raises(ProviderResponseError, match="exceeds 1,000 bytes"):
        all_courses(client)


def test_hostile_records_reach_the_caller_one_by_one_without_refusing_the_page(sim):
    from lms_connectors.rules.jsonpage import UndecodableRecord

    clean = all_courses(make_client(sim))
    set_faults(sim, hostile_share=0.3)
    items = all_courses(make_client(sim, page_size=50))
    served = sum(sim_state(sim)["hostile_listed"]["courses"].values())
    assert served > 10
    assert len(items) == 120 + served
    # Every clean record arrives as it is, and in its place; the hostile ones arrive beside them.
    assert [i for i in items if i in clean] == clean
    assert any(isinstance(i, UndecodableRecord) for i in items)  # the 2000-level nesting


def test_malformed_records_are_served_as_data(sim):
    set_faults(sim, malformed_share=0.2)
    courses = all_courses(make_client(sim))
    assert len(courses) == 120
    bad = [c for c in courses if c["id"] is None or c["language"] == "French" or c["duration"] == "about two hours"]
    assert 5 <= len(bad) <= 45


def test_faults_are_counted_by_the_simulator(sim):
    set_faults(sim, error_burst=2)
    all_courses(make_client(sim, sleep=RecordingSleep()))
    assert sim_state(sim)["counters"]["faulted"] == 2


def test_same_seed_same_data_other_seed_other_data(sim, tmp_path):
    mine = all_courses(make_client(sim, page_size=500))
    since, until = DAY, DAY + dt.timedelta(days=2)
    my_activity = [r for p in make_client(sim, page_size=500).iter_activity_pages(since, until) for r in p]
    other_args = ["--seed", "8", *SIM_ARGS[2:]]
    with launch.running(SIM_ARGS) as twin, launch.running(other_args) as other:
        assert all_courses(make_client(twin, page_size=500)) == mine
        twin_activity = [r for p in make_client(twin, page_size=500).iter_activity_pages(since, until) for r in p]
        assert twin_activity == my_activity
        theirs = all_courses(make_client(other, page_size=500))
        assert theirs != mine and len(theirs) == len(mine)


def test_openapi_document_is_served(sim):
    spec = requests.get(f"{sim.url}/openapi.json", timeout=10).json()
    assert "/organizations/{organization_id}/courses" in spec["paths"]
    assert "/oauth2/token" in spec["paths"]
