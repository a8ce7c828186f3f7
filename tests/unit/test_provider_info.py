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
from lms_connectors.rules.errors import ConnectionConfigError


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


@pytest.mark.parametrize("name", providers.names())
def test_a_numeric_field_is_kept_as_a_number_not_a_string_airflow_would_mask(name):
    """Airflow masks every string of a Connection's extra and warns once per process about one too
    short to mask ("Skipping masking ..."): a poll interval of "1" was one, in every demo task."""
    from lms_connectors.orchestration.provider_info import connection_type

    provider = providers.get(name)
    numbers = [field for field, spec in provider.form().items() if spec.number]
    extras = {**dict.fromkeys(provider.connection_extras, "org-demo-1"), **dict.fromkeys(numbers, "1")}
    conn = provider.connection("http://127.0.0.1:1", "client-id", "secret", **extras)
    assert [k for k, v in conn["extra"].items() if isinstance(v, str) and len(v) < 5] == []
    assert all(conn["extra"][field] == 1.0 for field in numbers)
    fields = connection_type(provider)["conn-fields"]
    assert all(fields[field]["schema"]["type"] == ["number", "null"] for field in numbers)
    for field in numbers:
        with pytest.raises(ConnectionConfigError, match=f"extra {field} must be a number, got 'ten'"):
            provider.connection("http://127.0.0.1:1", "client-id", "secret", **{**extras, field: "ten"})
