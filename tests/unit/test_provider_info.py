"""The distribution's provider info: one Connection type per provider, whose form offers exactly the
fields its client reads, and whose hook exists; valid for Airflow's own schema."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jsonschema
import pytest

from lms_connectors import providers
from lms_connectors.orchestration.provider_info import get_provider_info


def test_the_provider_info_is_valid_for_airflow():
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


@pytest.mark.parametrize("name", providers.names())
def test_each_provider_has_a_connection_type_of_its_name_with_a_hook_that_tests_it(name, monkeypatch):
    provider = providers.get(name)
    declared = {t["connection-type"]: t for t in get_provider_info()["connection-types"]}
    assert "_" not in provider.conn_type  # a URI scheme (RFC 3986)
    conn_type = declared[provider.conn_type]
    module, cls = conn_type["hook-class-name"].rsplit(".", 1)
    hook = getattr(importlib.import_module(module), cls)
    assert hook.conn_type == provider.conn_type and hook.provider is provider
    # Its Test button answers, naming the provider: here no, as nothing listens where it sends.
    conn = provider.connection(
        "http://127.0.0.1:1", "client-id", "secret", **dict.fromkeys(provider.connection_extras, "x")
    )
    monkeypatch.setenv("AIRFLOW_CONN_UNREACHABLE", json.dumps(conn))
    ok, said = hook("unreachable").test_connection()
    assert ok is False and said.startswith(provider.label) and "secret" not in said
    # The form offers what the client reads, and every field the client needs.
    extras = set(conn_type["conn-fields"])
    assert extras <= {"base_url", *provider.connection_extras, *provider.optional_extras}
    assert set(provider.connection_extras) <= extras and "base_url" in extras
    relabeled = conn_type["ui-field-behaviour"]["relabeling"]
    hidden = conn_type["ui-field-behaviour"]["hidden-fields"]
    if provider.credentials == "client":
        assert set(relabeled) == {"login", "password"} and "login" not in hidden
    else:
        assert set(relabeled) == {"password"} and "login" in hidden
