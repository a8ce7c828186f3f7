"""A stored secret stays with the endpoint it was saved for (lms_connectors.health.secret_guard)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from lms_connectors import providers
from lms_connectors.health.secret_guard import MASKED, refusal


def stored(provider: str, **extra):
    return SimpleNamespace(
        conn_type=providers.get(provider).conn_type, schema=None, host=None, port=None, extra_dejson=extra
    )


def body(provider: str, password=MASKED, **extra):
    return {
        "connection_id": f"{provider}_default",
        "conn_type": providers.get(provider).conn_type,
        "password": password,
        "port": 0,  # what the UI sends for a form without a port
        "extra": json.dumps(extra),
    }


ENDPOINTS = {
    "openclassrooms": {"base_url": "https://api.openclassrooms.com", "organization_id": "org-1"},
    "linkedin_learning": {
        "base_url": "https://api.linkedin.com",
        "token_url": "https://www.linkedin.com/oauth/v2/accessToken",
    },
    "skillsoft_percipio": {"region": "EU", "organization_id": "org-1"},
}
EDITS = {
    "openclassrooms": [{"base_url": "https://collector.example"}, {"plain_http_hosts": "collector.example"}],
    "linkedin_learning": [{"base_url": "https://collector.example"}, {"token_url": "https://collector.example/t"}],
    "skillsoft_percipio": [{"region": "US"}, {"base_url": "https://collector.example"}],
}


@pytest.mark.parametrize("provider", providers.names())
def test_an_edited_endpoint_with_the_masked_secret_is_refused(provider):
    saved = ENDPOINTS[provider]
    for edit in EDITS[provider]:
        why = refusal(body(provider, **{**saved, **edit}), stored(provider, **saved))
        assert why and next(iter(edit)) in why and "again" in why, edit
        # With the secret given again, it goes where the request says.
        assert refusal(body(provider, "a-new-secret", **{**saved, **edit}), stored(provider, **saved)) is None


@pytest.mark.parametrize("provider", providers.names())
def test_the_stored_endpoint_or_another_field_uses_the_stored_secret(provider):
    saved = ENDPOINTS[provider]
    assert refusal(body(provider, **saved), stored(provider, **saved)) is None
    # The same URL written with a trailing slash or in capitals goes to the same place.
    same = {k: (v.upper() + "/" if k == "base_url" else v) for k, v in saved.items()}
    assert refusal(body(provider, **same), stored(provider, **saved)) is None
    assert refusal(body(provider, **saved, page_size=50), stored(provider, **saved)) is None
    assert refusal(body(provider, **saved), None) is None  # a new Connection: no stored secret


def test_a_save_that_leaves_the_extra_out_of_its_mask_changes_no_endpoint():
    saved = ENDPOINTS["openclassrooms"]
    edited = body("openclassrooms", **{**saved, "base_url": "https://collector.example"})
    assert refusal(edited, stored("openclassrooms", **saved), update_mask=["description"]) is None
    assert refusal(edited, stored("openclassrooms", **saved), update_mask=["extra"])


def test_other_connection_types_pass():
    other = {"connection_id": "x", "conn_type": "http", "password": MASKED, "extra": '{"base_url": "https://e"}'}
    assert refusal(other, SimpleNamespace(conn_type="http", schema=None, host=None, port=None, extra_dejson={})) is None
