"""What is Skillsoft Percipio's own in its client, over HTTP: the static token, the snapshot, the
report job, regional hosts. What every client does is in test_client_contract.py."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from lms_connectors.providers.skillsoft_percipio import PROVIDER
from lms_connectors.providers.skillsoft_percipio import contract as c
from lms_connectors.rules.errors import (
    ConnectionConfigError,
    ListingChanged,
    ProviderAuthError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from tests.builders import RecordingSleep, provider_client, set_faults, sim_state, world_courses

pytestmark = pytest.mark.integration
DAY = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)


@pytest.fixture
def provider_name() -> str:
    return "skillsoft_percipio"


def client(sim, **overrides):
    return provider_client(sim, **{"page_size": 25, "sleep": RecordingSleep(), "poll_seconds": 0.5, **overrides})


def test_the_catalogue_is_read_whole_from_one_snapshot(sim):
    c_ = client(sim)
    items = [i for page in c_.iter_course_pages() for i in page]
    assert len(items) == len(world_courses(sim)) == len({i["id"] for i in items})
    assert {i["localeCodes"][0].split("-")[0] for i in items} <= {"fr", "en", "es", "de", "it", "pt", "nl"}
    assert any(len(i["localeCodes"]) > 1 for i in items), "some courses carry several locales"
    assert c_.stats["pages"] == -(-len(items) // 25)


def test_later_pages_read_the_snapshot_the_first_page_opened(sim):
    """A course added while the catalogue is read is not in this reading: the snapshot holds."""
    c_ = client(sim)
    pages = c_.iter_course_pages()
    first = next(pages)
    requests.post(f"{sim.url}/_sim/courses", json={"id": "9000001", "title": "Added meanwhile"}, timeout=10)
    rest = [i for page in pages for i in page]
    assert "5b7e2c1d-9f4a-4e3b-8c6d-000009000001" not in {i["id"] for i in first + rest}
    assert len(first) + len(rest) == len(world_courses(sim)) - 1


def test_an_expired_snapshot_makes_the_listing_read_again(sim):
    c_ = client(sim)
    pages = c_.iter_course_pages()
    next(pages)
    # The simulator forgets snapshots as Percipio expires them: a reset drops every one.
    requests.post(f"{sim.url}/_sim/reset", timeout=10).raise_for_status()
    with pytest.raises(ListingChanged, match="the snapshot was refused"):
        list(pages)


def test_the_report_is_requested_polled_and_read(sim):
    set_faults(sim, report_polls=3)
    sleep = RecordingSleep()
    c_ = client(sim, sleep=sleep)
    records = [r for page in c_.iter_activity_pages(DAY, DAY + dt.timedelta(days=1)) for r in page]
    assert records and all(r["lastAccess"].startswith("2026-11-03") for r in records)
    # Three "in progress" answers, each followed by a wait of poll_seconds.
    assert sleep.waits == [0.5, 0.5, 0.5]
    assert {r["status"] for r in records} <= {"STARTED", "COMPLETED"}
    assert all(isinstance(r["duration"], int) and r["duration"] >= 0 for r in records)


def test_a_report_never_ready_fails_after_max_poll_seconds(sim):
    set_faults(sim, report_polls=1000)
    with pytest.raises(ProviderUnavailableError, match=r"was not ready after 2 s \(max_poll_seconds\)"):
        list(client(sim, max_poll_seconds=2).iter_activity_pages(DAY, DAY + dt.timedelta(days=1)))


def test_a_wrong_token_fails_at_once_naming_the_connection(sim):
    from lms_connectors.providers.skillsoft_percipio.client import PercipioClient

    wrong = PercipioClient(sim.url, "wrong-token", sim.organization_id, source="Skillsoft Percipio (Connection 'p')")
    with pytest.raises(ProviderAuthError, match=r"Connection 'p'\) refused the service account's token"):
        list(wrong.iter_course_pages())
    assert wrong.stats["requests"] == 1
    assert sim_state(sim)["counters"]["data"] == 0


def test_the_region_gives_the_host_and_a_missing_one_is_named():
    from airflow.sdk import Connection

    def base(extra: dict) -> str:
        return PROVIDER.base_url(Connection(conn_id="p", conn_type="http", password="t", extra=json.dumps(extra)))

    assert base({"region": "EU", "organization_id": "o"}) == c.REGIONS["EU"] == "https://dew1-api.percipio.com"
    assert base({"region": "us", "organization_id": "o"}) == "https://api.percipio.com"
    assert base({"base_url": "https://eu.example/", "region": "US"}) == "https://eu.example"
    with pytest.raises(ConnectionConfigError, match="set extra region \\(US or EU\\) or extra base_url"):
        base({"organization_id": "o"})


def test_the_token_is_the_only_credential_the_connection_needs(sim):
    from airflow.sdk import Connection

    extra = json.dumps({"region": "EU", "organization_id": "o"})
    conn = Connection(conn_id="p", conn_type="http", password="", extra=extra)
    with pytest.raises(ConnectionConfigError, match=r"missing password \(the service account's token\)"):
        PROVIDER.client_from_connection(conn)
    conn = Connection(conn_id="p", conn_type="http", password="t", extra=extra)
    assert PROVIDER.client_from_connection(conn).base_url == "https://dew1-api.percipio.com"


@pytest.mark.parametrize(
    "answered",
    ["../../../content-discovery/v2/organizations/x/catalog-content", "https://evil.example/x", "a/b", "a b", "%2e%2e"],
)
def test_a_report_id_that_is_not_one_never_reaches_a_path(sim, answered):
    """The id goes into the path of every poll with the token: ``../`` would reach another endpoint."""
    set_faults(sim, report_id=answered)
    before = sim_state(sim)["counters"]["data"]
    with pytest.raises(ProviderResponseError, match="is not a report id"):
        list(client(sim).iter_activity_pages(DAY, DAY + dt.timedelta(days=1)))
    assert sim_state(sim)["counters"]["data"] == before + 1  # the report request, and nothing after it


def test_a_report_request_that_may_have_been_taken_is_not_sent_again(sim):
    """A 5xx answer may come after the job was made: sending it again would make another. A 429 is a
    refusal before anything was done: that one is sent again."""
    set_faults(sim, report_submit_failures=1)
    with pytest.raises(ProviderUnavailableError, match="not sent again"):
        list(client(sim).iter_activity_pages(DAY, DAY + dt.timedelta(days=1)))
    assert sim_state(sim)["counters"]["report_jobs"] == 1
    requests.post(f"{sim.url}/_sim/reset", timeout=10).raise_for_status()
    set_faults(sim, rate_limit_burst=1, retry_after=0)
    records = [r for page in client(sim).iter_activity_pages(DAY, DAY + dt.timedelta(days=1)) for r in page]
    assert records and sim_state(sim)["counters"]["report_jobs"] == 1
