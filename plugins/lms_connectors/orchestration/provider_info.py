"""What Airflow learns of the distribution through its ``apache_airflow_provider`` entry point.

One Connection type per provider package, named after it (hyphenated: ``Provider.conn_type``), with the provider's own fields (its
declarations: ``Provider.form``) and its hook (``providers/<name>/hook.py``), which gives the form
its Test button. Airflow reads this in every process that lists providers: it imports the
providers' declarations only (no client, no HTTP stack).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from lms_connectors import providers
from lms_connectors.orchestration import lineage

PACKAGE = "lms-connectors"
# The standard fields a provider's form never uses: the API's address is one field (base_url).
HIDDEN = ("host", "schema", "port")


def version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # imported from a checkout, not installed
        return "0+checkout"


def hook_class_name(provider: providers.Provider) -> str:
    return f"{type(provider).__module__}.hook.{type(provider).__name__}Hook"


def connection_type(provider: providers.Provider) -> dict[str, Any]:
    form = provider.form()
    extras = {name: f for name, f in form.items() if name not in ("login", "password")}
    conn_fields = {}
    for name, field in extras.items():
        schema: dict[str, Any] = {"type": ["number" if field.number else "string", "null"]}
        if field.choices:
            schema["enum"] = [*field.choices, None]
        conn_fields[name] = {"label": field.label, "schema": schema}
        if field.description:
            conn_fields[name]["description"] = field.description
    hidden = [*HIDDEN, *(["login"] if "login" not in form else [])]
    return {
        "hook-class-name": hook_class_name(provider),
        "hook-name": provider.label,
        "connection-type": provider.conn_type,
        "conn-fields": conn_fields,
        "ui-field-behaviour": {
            "hidden-fields": hidden,
            "relabeling": {name: form[name].label for name in ("login", "password") if name in form},
            "placeholders": {name: f.placeholder for name, f in form.items() if f.placeholder},
        },
    }


def get_provider_info() -> dict[str, Any]:
    every = [providers.get(name) for name in providers.names()]
    return {
        "package-name": PACKAGE,
        "name": "LMS content connectors",
        "description": "Sync e-learning providers' catalogues and learner statistics into an LMS warehouse.",
        "versions": [version()],
        "integrations": [{"integration-name": p.label, "tags": ["service"]} for p in every],
        "hooks": [
            {"integration-name": p.label, "python-modules": [hook_class_name(p).rsplit(".", 1)[0]]} for p in every
        ],
        "connection-types": [connection_type(p) for p in every],
        # What each sync task read and wrote, for OpenLineage (orchestration/lineage.py).
        "asset-uris": [
            {
                "schemes": [lineage.API_SCHEME, lineage.TABLE_SCHEME],
                "handler": f"{lineage.__name__}.normalize",
                "to_openlineage_converter": f"{lineage.__name__}.to_openlineage",
            }
        ],
    }
