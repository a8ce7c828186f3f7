"""The xAPI endpoint as providers push to it: ``python -m lms_connectors.xapi serve`` over real HTTP,
storing into a real warehouse as its own login (lms_xapi)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.postgres import SYNC_LOGIN, XAPI_LOGIN
from lms_connectors import providers
from lms_connectors.privacy import pseudonym
from lms_connectors.warehouse import statements
from simulator.xapi_push import FEEDS
from tests.builders import PROVIDERS, TEST_KEY

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
VERSION = {"X-Experience-API-Version": "1.0.3"}
EMAIL = "Pushed.Learner@Elsewhere.example"
PROGRESSED = "http://adlnet.gov/expapi/verbs/progressed"


@pytest.fixture(scope="module")
def endpoint(module_warehouse, tmp_path_factory) -> Iterator[str]:
    from devstack import xapi

    dsn = module_warehouse.cluster.conninfo(XAPI_LOGIN, module_warehouse.dbname)
    with (tmp_path_factory.mktemp("xapi") / "endpoint.log").open("wb") as log:
        proc, url = xapi.start(dsn, TEST_KEY, log)
        yield url
        proc.terminate()
        proc.wait(timeout=30)


def credentials(warehouse, connector: str) -> tuple[str, str]:
    with warehouse.connect(SYNC_LOGIN) as conn:
        return statements.create_credentials(conn, connector)


def statement(activity: str = "https://example.com/course/1", progress: int = 40, **over: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{EMAIL}"},
        "verb": {"id": PROGRESSED, "display": {"en-US": "progressed"}},
        "object": {"objectType": "Activity", "id": activity},
        "result": {"extensions": {"https://w3id.org/xapi/cmi5/result/extensions/progress": progress}},
        "timestamp": "2026-12-07T10:00:00Z",
        **over,
    }


def push(url: str, creds: tuple[str, str], body: Any, *, method: str = "POST", **kwargs: Any) -> requests.Response:
    headers = {**VERSION, **kwargs.pop("headers", {})}
    return requests.request(method, f"{url}/statements", json=body, auth=creds, headers=headers, timeout=30, **kwargs)


def stored(warehouse, ids: list[str]) -> list[tuple]:
    return warehouse.rows(
        "SELECT statement_id::text, connector_id, xmin::text FROM xapi.statements WHERE statement_id::text = ANY(%s)"
        " ORDER BY 1",
        (ids,),
    )


def test_statements_are_stored_before_the_answer_and_a_resend_changes_nothing(endpoint, module_warehouse):
    creds = credentials(module_warehouse, "linkedin_learning")
    batch = [statement(), statement(progress=60)]
    answer = push(endpoint, creds, batch)
    assert answer.status_code == 200 and answer.headers["X-Experience-API-Version"] == "1.0.3"
    ids = sorted(s["id"] for s in batch)
    assert sorted(answer.json()) == ids
    first = stored(module_warehouse, ids)
    assert [r[:2] for r in first] == [(i, "linkedin_learning") for i in ids]
    # A provider's retry, with the version and authority an LRS may set, in another id case.
    resent = [{**s, "id": s["id"].upper(), "version": "1.0.0", "authority": {"mbox": "mailto:x@y.z"}} for s in batch]
    assert push(endpoint, creds, resent).status_code == 200
    assert stored(module_warehouse, ids) == first
    # The learner is a keyed hash: neither the address nor its local part is kept anywhere.
    text = module_warehouse.scalar("SELECT string_agg(t::text, ' ') FROM xapi.statements t")
    assert EMAIL.lower().split("@")[0] not in text.lower()
    key = pseudonym.connector_key(TEST_KEY.encode(), "linkedin_learning", 1)
    assert module_warehouse.scalar(
        "SELECT learner_hash FROM xapi.statements WHERE statement_id = %s", (ids[0],)
    ) == pseudonym.learner_hash(key, EMAIL)


def test_put_is_idempotent_and_another_statement_under_a_stored_id_is_a_conflict(endpoint, module_warehouse):
    creds = credentials(module_warehouse, "linkedin_learning")
    s = statement()
    put = {"method": "PUT", "params": {"statementId": s["id"]}}
    assert push(endpoint, creds, s, **put).status_code == 204
    assert push(endpoint, creds, s, **put).status_code == 204
    # Another statement under that id, alone or with a new one: 409, and nothing of the request is kept.
    assert push(endpoint, creds, {**s, "timestamp": "2026-12-07T11:00:00Z"}, **put).status_code == 409
    fresh = statement()
    assert (
        push(endpoint, creds, [fresh, {**s, "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"}}]).status_code
        == 409
    )
    assert stored(module_warehouse, [fresh["id"]]) == []
    # A PUT whose body names another id is refused.
    assert push(endpoint, creds, statement(), **put).status_code == 400


def test_a_hostile_statement_is_quarantined_and_never_stops_the_others(endpoint, module_warehouse):
    creds = credentials(module_warehouse, "skillsoft_percipio")
    good = statement()
    hostile = [
        statement(verb={"id": "not an iri"}),
        statement(actor={"objectType": "Group", "member": []}),
        statement(object={"objectType": "Activity", "id": "https://e.example/\u0000"}),
        statement(extra_property=1),
        statement(timestamp="yesterday"),
        {**statement(), "result": {"completion": "yes"}},
        ["not", "an", "object"],
    ]
    answer = push(endpoint, creds, [hostile[0], good, *hostile[1:]])
    assert answer.status_code == 200
    assert answer.json()["stored"] == [good["id"]]
    reasons = [r["reason"] for r in answer.json()["refused"]]
    assert len(reasons) == len(hostile) and set(reasons) <= {"invalid_statement", "unsupported_actor"}
    rows = module_warehouse.rows(
        "SELECT reason, detail FROM xapi.rejected_statements WHERE connector_id = 'skillsoft_percipio'"
    )
    assert len(rows) == len(hostile) and all(detail for _, detail in rows)
    # Nothing valid at all: 400, and still quarantined.
    assert push(endpoint, creds, [hostile[0]]).status_code == 400
    assert (
        module_warehouse.scalar(
            "SELECT count(*) FROM xapi.rejected_statements WHERE connector_id = 'skillsoft_percipio'"
        )
        == len(hostile) + 1
    )


def test_the_endpoint_refuses_what_the_protocol_refuses(endpoint, module_warehouse):
    creds = credentials(module_warehouse, "linkedin_learning")
    assert requests.get(f"{endpoint}/about", timeout=10).json() == {"version": ["1.0.3"]}
    no_version = requests.post(f"{endpoint}/statements", json=statement(), auth=creds, timeout=10)
    assert no_version.status_code == 400
    for auth in (None, (creds[0], "wrong"), ("nobody", creds[1])):
        refused = requests.post(f"{endpoint}/statements", json=statement(), auth=auth, headers=VERSION, timeout=10)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    with module_warehouse.connect(SYNC_LOGIN) as conn:
        assert statements.revoke_credentials(conn, creds[0])
    assert push(endpoint, creds, statement()).status_code == 401
    creds = credentials(module_warehouse, "linkedin_learning")
    big = requests.post(
        f"{endpoint}/statements",
        data=b"[" + b" " * (5 * 1024 * 1024) + b"]",
        auth=creds,
        headers={**VERSION, "Content-Type": "application/json"},
        timeout=30,
    )
    assert big.status_code == 413
    garbled = requests.post(f"{endpoint}/statements", data=b"{not json", auth=creds, headers=VERSION, timeout=10)
    assert garbled.status_code == 400
    assert (
        module_warehouse.scalar("SELECT count(*) FROM xapi.rejected_statements WHERE reason = 'undecodable_request'")
        == 1
    )
    basic = base64.b64encode(b"no-colon").decode()
    assert (
        requests.post(
            f"{endpoint}/statements",
            json=statement(),
            headers={**VERSION, "Authorization": f"Basic {basic}"},
            timeout=10,
        ).status_code
        == 401
    )


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_an_account_actor_is_the_learner_id_the_providers_records_carry(endpoint, module_warehouse, provider_name):
    """An ``account`` actor is hashed as the provider's learner id (its kind and issuer), so the transform
    matches it to ``lms.user_identities``; a provider whose records carry no id cannot match one."""
    provider = providers.get(provider_name)
    creds = credentials(module_warehouse, provider_name)
    s = statement(actor={"objectType": "Agent", "account": {"homePage": "https://sso.example", "name": "Emp-7"}})
    answer = push(endpoint, creds, [s])
    if provider.learner_id_kind is None:
        assert answer.status_code == 400
        assert answer.json()["refused"][0]["reason"] == "unsupported_actor"
        return
    assert answer.status_code == 200
    key = pseudonym.connector_key(TEST_KEY.encode(), provider_name, 1)
    expected = pseudonym.identity_hash(key, provider.learner_id_kind, provider.identity_issuer, "Emp-7")
    assert module_warehouse.rows(
        "SELECT learner_hash, identity_hash FROM xapi.statements WHERE statement_id = %s", (s["id"],)
    ) == [(None, expected)]


@pytest.mark.parametrize("provider_name", sorted(FEEDS))
def test_a_providers_feed_lands_once_whatever_it_resends_or_reorders(endpoint, module_warehouse, sim, provider_name):
    """The simulator pushes a day of its world as the provider documents its feed (verbs, account
    actors, activity ids), resending a third and out of order: each statement is stored once, and a
    later push of the same day adds nothing."""
    creds = credentials(module_warehouse, provider_name)
    window = {"since": "2026-11-02T00:00:00Z", "until": "2026-11-03T00:00:00Z"}
    spec = {"endpoint": f"{endpoint}/statements", "username": creds[0], "secret": creds[1], **window}
    pushed = requests.post(
        f"{sim.url}/_sim/xapi/push", json={**spec, "duplicate_share": 0.3, "shuffle": True}, timeout=120
    ).json()
    assert pushed["statements"] > 0 and pushed["duplicated"] > 0 and pushed["refused"] == 0
    assert pushed["sent"] == pushed["statements"] + pushed["duplicated"]
    count = """SELECT count(*), count(identity_hash), count(DISTINCT verb) FROM xapi.statements
               WHERE connector_id = %s AND activity_id <> 'https://example.com/course/1'"""
    assert module_warehouse.rows(count, (provider_name,)) == [(pushed["statements"], pushed["statements"], 2)]
    again = requests.post(f"{sim.url}/_sim/xapi/push", json={**spec, "drop_share": 0.5}, timeout=120).json()
    assert 0 < again["sent"] < pushed["statements"] and again["refused"] == 0
    assert module_warehouse.rows(count, (provider_name,))[0][0] == pushed["statements"]
