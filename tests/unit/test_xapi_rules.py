"""The xAPI statement screen: hostile input is refused with a reason, never raised or stored; the
actor's identifier never reaches the kept body; a resend is told from another statement."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lms_connectors.rules import xapi

STATEMENT = {
    "id": "5f1e0c8e-52a9-4b52-9c43-8b2f7f4d2b10",
    "actor": {"objectType": "Agent", "mbox": "mailto:Jane.Doe@example.org", "name": "Jane"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "https://example.com/course/1", "definition": {"name": {"en-US": "One"}}},
    "result": {"completion": True, "duration": "PT12M", "score": {"scaled": 0.8}},
    "timestamp": "2026-12-07T10:00:00+01:00",
}
JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def test_a_valid_statement_keeps_everything_but_who_the_learner_is():
    screened = xapi.screen(STATEMENT)
    assert isinstance(screened, xapi.Statement)
    assert screened.actor == xapi.Actor("mbox", "Jane.Doe@example.org")
    assert (screened.verb, screened.activity) == (STATEMENT["verb"]["id"], STATEMENT["object"]["id"])
    assert screened.timestamp.isoformat() == "2026-12-07T09:00:00+00:00"
    assert screened.body["actor"] == {"objectType": "Agent", "identified_by": "mbox"}
    assert "jane" not in repr(screened.body).lower()
    # Nor any other person the statement names, nor free text.
    named = {
        **STATEMENT,
        "context": {"instructor": {"mbox": "mailto:teacher@example.org"}, "registration": str(uuid.uuid4())},
        "authority": {"mbox": "mailto:lrs-admin@example.org"},
        "result": {"response": "my name is Jane", "completion": True},
    }
    kept = xapi.screen(named).body
    assert "@" not in repr(kept) and "jane" not in repr(kept).lower()
    assert kept["result"] == {"completion": True} and set(kept["context"]) == {"registration"}
    account = {"objectType": "Agent", "account": {"homePage": "https://sso.example", "name": "E-1"}}
    assert xapi.screen({**STATEMENT, "actor": account}).actor == xapi.Actor("account", "E-1", "https://sso.example")


def test_a_resend_has_the_same_digest_and_any_other_change_another():
    base = xapi.screen(STATEMENT).digest
    resent = {**STATEMENT, "id": STATEMENT["id"].upper(), "version": "1.0.0", "stored": "x", "authority": {}}
    assert xapi.screen(resent).digest == base
    for changed in ({"timestamp": "2026-12-07T10:00:01+01:00"}, {"result": {"completion": False}}):
        assert xapi.screen({**STATEMENT, **changed}).digest != base


def test_the_put_id_and_the_body_id_must_agree():
    assert xapi.screen(STATEMENT, STATEMENT["id"].upper()).id == STATEMENT["id"]
    assert xapi.screen(STATEMENT, str(uuid.uuid4())).reason == xapi.ID_MISMATCH
    assert xapi.screen({k: v for k, v in STATEMENT.items() if k != "id"}, STATEMENT["id"]).id == STATEMENT["id"]
    generated = xapi.screen({k: v for k, v in STATEMENT.items() if k != "id"})
    assert uuid.UUID(generated.id).version == 4


def test_versions():
    assert all(map(xapi.supported_version, ["1.0", "1.0.0", "1.0.3", " 1.0.3 "]))
    assert not any(map(xapi.supported_version, [None, "", "0.95", "2.0.0", "1.0.x", "1.0.3; drop"]))


@settings(max_examples=300, deadline=None)
@given(member=st.sampled_from(sorted(STATEMENT)), value=JSON)
def test_any_value_in_any_member_is_screened_without_raising(member: str, value: Any):
    screened = xapi.screen({**STATEMENT, member: value})
    if isinstance(screened, xapi.Refused):
        assert screened.reason in {xapi.INVALID_STATEMENT, xapi.UNSUPPORTED_ACTOR, xapi.ID_MISMATCH}
        assert screened.detail and "jane" not in screened.detail.lower()
    else:
        assert screened.body["actor"] == {"objectType": "Agent", "identified_by": "mbox"}
        assert "Jane.Doe" not in repr(screened.body)


@settings(max_examples=200, deadline=None)
@given(raw=JSON)
def test_anything_at_all_is_refused_or_screened(raw: Any):
    assert isinstance(xapi.screen(raw), xapi.Statement | xapi.Refused)


# What the record guard refuses in free text: C0 controls but tab and line breaks, DEL, lone surrogates.
REFUSED_CHARS = st.characters(max_codepoint=0x7F, categories=["Cc"], exclude_characters="\t\n\r") | st.characters(
    categories=["Cs"]
)


@given(text=st.text(alphabet=REFUSED_CHARS, min_size=1))
def test_control_characters_anywhere_are_refused(text: str):
    nested = {**STATEMENT, "object": {**STATEMENT["object"], "definition": {"name": {"en-US": f"a{text}b"}}}}
    assert xapi.screen(nested).reason == xapi.INVALID_STATEMENT


def test_a_refusal_never_quotes_a_value_the_provider_sent():
    """Refusals are kept for months: their details name what broke, never a value (an address here)."""
    address = "someone.else@example.org"
    for broken in (
        {**STATEMENT, address: 1, "extra": 2},
        {**STATEMENT, "object": {"objectType": address, "id": "https://example.com/c"}},
        {**STATEMENT, "timestamp": address},
        {**STATEMENT, "verb": {"id": address}},
    ):
        refused = xapi.screen(broken)
        assert isinstance(refused, xapi.Refused) and address not in refused.detail, refused
    assert xapi.screen({**STATEMENT, address: 1, "extra": 2}).detail == "unknown properties: extra, 1 other"
