"""What is LinkedIn Learning's own in its client, over HTTP: Rest.li requests, day windows, the reports
as the shared world aggregated, the token URL. What every client does is in test_client_contract.py."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from lms_connectors.providers.linkedin_learning.client import LinkedInLearningClient
from lms_connectors.rules.errors import (
    ProviderResponseError,
)
from tests.builders import RecordingSleep, provider_client

pytestmark = pytest.mark.integration
DAY = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
REPORT_QUERY = {
    "q": "criteria",
    "aggregationCriteria.primary": "INDIVIDUAL",
    "aggregationCriteria.secondary": "CONTENT",
    "timeOffset.unit": "DAY",
    "timeOffset.duration": "1",
}


@pytest.fixture
def provider_name() -> str:
    return "linkedin_learning"


def client(sim, **overrides) -> LinkedInLearningClient:
    return provider_client(sim, **{"page_size": 25, "sleep": RecordingSleep(), **overrides})


def all_courses(c) -> list[dict]:
    return [a for page in c.iter_course_pages() for a in page]


def day_reports(c, day: dt.datetime = DAY, days: int = 1) -> list[dict]:
    return [e for page in c.iter_activity_pages(day, day + dt.timedelta(days=days)) for e in page]


def token(sim) -> str:
    resp = requests.post(
        f"{sim.url}/oauth/v2/accessToken",
        data={"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.client_secret},
        timeout=10,
    )
    assert resp.status_code == 200
    return resp.json()["access_token"]


def metric(element: dict, kind: str) -> dict:
    return next(a for a in element["activities"] if a["engagementType"] == kind)


def test_token_and_first_pages_follow_the_contract(sim):
    headers = {"Authorization": f"Bearer {token(sim)}"}
    resp = requests.get(
        f"{sim.url}/v2/learningAssets", params={"q": "criteria", "start": 0, "count": 10}, headers=headers, timeout=10
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["paging"]["start"] == 0 and body["paging"]["count"] == 10 and body["paging"]["total"] == 120
    assert len(body["elements"]) == 10
    assert all(e["urn"].startswith("urn:li:lyndaCourse:") for e in body["elements"])
    started = str(int(DAY.timestamp() * 1000))
    resp = requests.get(
        f"{sim.url}/v2/learningActivityReports",
        params={**REPORT_QUERY, "startedAt": started, "start": 0, "count": 5},
        headers=headers,
        timeout=10,
    )
    assert resp.status_code == 200
    assert {a["engagementType"] for a in resp.json()["elements"][0]["activities"]} >= {
        "SECONDS_VIEWED",
        "PROGRESS_PERCENTAGE",
    }


def test_requests_outside_the_contract_are_refused(sim):
    wrong = requests.post(
        f"{sim.url}/oauth/v2/accessToken",
        data={"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": "nope"},
        timeout=10,
    )
    assert wrong.status_code == 401
    headers = {"Authorization": f"Bearer {token(sim)}"}
    no_finder = requests.get(f"{sim.url}/v2/learningAssets", headers=headers, timeout=10)
    assert no_finder.status_code == 400
    no_window = requests.get(
        f"{sim.url}/v2/learningActivityReports", params={"q": "criteria"}, headers=headers, timeout=10
    )
    assert no_window.status_code == 400
    no_token = requests.get(f"{sim.url}/v2/learningAssets", params={"q": "criteria"}, timeout=10)
    assert no_token.status_code == 401 and no_token.json()["code"] == "INVALID_ACCESS_TOKEN"


def test_page_size_is_bounded_by_the_api():
    with pytest.raises(ValueError, match="between 1 and 100"):
        LinkedInLearningClient("http://127.0.0.1:9", "id", "secret", page_size=500)


def test_activity_is_read_one_whole_day_at_a_time(sim):
    records = day_reports(client(sim), days=2)
    assert records
    first_day_end = (DAY + dt.timedelta(days=1)).timestamp() * 1000
    engaged = [metric(e, "PROGRESS_PERCENTAGE")["lastEngagedAt"] for e in records]
    assert all(DAY.timestamp() * 1000 <= t < (DAY + dt.timedelta(days=2)).timestamp() * 1000 for t in engaged)
    # Day order: the first day's elements come before the second's.
    days = [t >= first_day_end for t in engaged]
    assert days == sorted(days) and any(days) and not all(days)
    with pytest.raises(ValueError, match="whole UTC days"):
        next(client(sim).iter_activity_pages(DAY, DAY + dt.timedelta(hours=6)))


def test_reports_are_the_world_of_the_openclassrooms_simulator_aggregated_per_learner_and_course(sim, simulators):
    """The two simulators serve one world: a day's report holds one element per learner and course
    that moved that day, with the progress of its last record in whole percents."""
    oc = simulators["openclassrooms"]
    requests.post(f"{oc.url}/_sim/reset", timeout=30).raise_for_status()
    oc_records = [r for p in provider_client(oc).iter_activity_pages(DAY, DAY + dt.timedelta(days=1)) for r in p]
    last: dict[tuple[str, str], float] = {}
    for r in oc_records:
        last[(r["learner_email"].lower(), f"urn:li:lyndaCourse:{r['course_id']}")] = r["progress"]
    elements = day_reports(client(sim))
    got = {
        (e["learnerDetails"]["email"].lower(), e["contentDetails"]["contentUrn"]): metric(e, "PROGRESS_PERCENTAGE")[
            "engagementValue"
        ]
        for e in elements
    }
    assert len(got) == len(elements), "one element per learner and course"
    assert got == {k: 100 if p >= 100 else int(p) for k, p in last.items()}
    assert all(metric(e, "SECONDS_VIEWED")["engagementValue"] >= 0 for e in elements)


def test_a_token_url_that_answers_404_is_a_clear_permanent_error(sim):
    sleep = RecordingSleep()
    c = client(sim, token_url=f"{sim.url}/oauth/v2/missing", sleep=sleep)
    with pytest.raises(ProviderResponseError, match="token endpoint answered 404"):
        all_courses(c)
    assert sleep.waits == []
