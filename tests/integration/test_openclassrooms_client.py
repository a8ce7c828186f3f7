"""What is OpenClassrooms' own in its client, over HTTP: the token request and Range answers, the
activity's order, the organization. What every client does is in test_client_contract.py."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from lms_connectors.rules.errors import ProviderForbiddenError
from tests.builders import RecordingSleep, make_client, set_faults, world_courses

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


def test_activity_is_the_interval_only_and_ordered(sim):
    client = make_client(sim, page_size=50)
    records = [r for p in client.iter_activity_pages(DAY, DAY + dt.timedelta(days=1)) for r in p]
    assert records, "the seeded scenario has activity every day"
    stamps = [r["updated_at"] for r in records]
    assert all("2026-11-03T00:00:00Z" <= s < "2026-11-04T00:00:00Z" for s in stamps)
    keys = [(r["updated_at"], r["learner_email"], r["course_id"]) for r in records]
    assert keys == sorted(keys)


def test_wrong_organization_is_forbidden_without_retry(sim):
    sleep = RecordingSleep()
    client = make_client(sim, organization_id="org-someone-else", sleep=sleep)
    with pytest.raises(ProviderForbiddenError, match="org-someone-else"):
        all_courses(client)
    assert sleep.waits == []


def test_pages_shorter_than_asked_are_read_ahead_in_order(sim):
    """A Range server may serve fewer items than asked (it says which in Content-Range): the listing
    is whole and in order, and the pages asked ahead follow the server's page length (a client that
    asked from where full pages start would ask again and again for pages it never reads)."""
    set_faults(sim, max_page_items=7)
    ahead = make_client(sim, page_size=25, concurrent_requests=4)
    courses = all_courses(ahead)
    assert courses == all_courses(make_client(sim, page_size=25, concurrent_requests=1))
    assert len(courses) == len({c["id"] for c in courses}) == len(world_courses(sim))
    pages = -(-len(courses) // 7)
    assert ahead.stats["pages"] == pages
    # Only the first window, asked before the server's page length was known, may be wasted.
    assert ahead.stats["requests"] - ahead.stats["token_fetches"] <= pages + ahead.concurrent_requests
