"""Where the project's non-Python files live, wherever the package is imported from.

- The SQL (migrations, merges, health figures) ships with the package: inside it when installed
  from the wheel (``lms_connectors/include/sql``), or the checkout's ``include/sql``.
- The registry of connectors is the deployment's: ``LMS_CONNECTORS_REGISTRY`` when set, else
  ``include/connectors.yaml`` beside the DAG folder (``AIRFLOW__CORE__DAGS_FOLDER``, by default
  ``$AIRFLOW_HOME/dags``), as in this repository and in the official image's layout.

``LMS_CONNECTORS_INCLUDE`` names a folder holding both (``sql/`` and ``connectors.yaml``).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The repository, when the package is imported from a checkout (plugins/lms_connectors).
PROJECT_ROOT = PACKAGE_DIR.parents[1]


def _include_dir() -> Path | None:
    given = os.environ.get("LMS_CONNECTORS_INCLUDE")
    return Path(given) if given else None


def _sql_dir() -> Path:
    if (include := _include_dir()) is not None:
        return include / "sql"
    shipped = PACKAGE_DIR / "include" / "sql"
    return shipped if shipped.is_dir() else PROJECT_ROOT / "include" / "sql"


def dags_folder() -> Path:
    """The DAG folder as the environment says (Airflow's own default otherwise)."""
    given = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if given:
        return Path(given)
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "dags"


def _registry_file() -> Path:
    if given := os.environ.get("LMS_CONNECTORS_REGISTRY"):
        return Path(given)
    if (include := _include_dir()) is not None:
        return include / "connectors.yaml"
    beside_dags = dags_folder().parent / "include" / "connectors.yaml"
    checkout = PROJECT_ROOT / "include" / "connectors.yaml"
    # A checkout's tools (the bench, the dev stack) run without a DAG folder in their environment.
    if not beside_dags.exists() and "AIRFLOW__CORE__DAGS_FOLDER" not in os.environ and checkout.exists():
        return checkout
    return beside_dags


SQL_DIR = _sql_dir()
MIGRATIONS_DIR = SQL_DIR / "migrations"
REGISTRY_FILE = _registry_file()


def sql_text(relative: str) -> str:
    """A .sql file of the package (include/sql), as text."""
    return (SQL_DIR / relative).read_text()


def sql_statements(relative: str) -> dict[str, str]:
    """Named statements of a .sql file, each introduced by ``-- name: <name>``."""
    statements: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in sql_text(relative).splitlines():
        if line.startswith("-- name:"):
            if name:
                statements[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif name:
            lines.append(line)
    if name:
        statements[name] = "\n".join(lines).strip()
    return statements
