"""Where the project's non-Python files live, wherever the package is imported from."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
INCLUDE_DIR = Path(os.environ.get("LMS_CONNECTORS_INCLUDE", PROJECT_ROOT / "include"))
SQL_DIR = INCLUDE_DIR / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
REGISTRY_FILE = Path(os.environ.get("LMS_CONNECTORS_REGISTRY", INCLUDE_DIR / "connectors.yaml"))


def read_sql(relative: str) -> str:
    return (SQL_DIR / relative).read_text()


def sql_statements(relative: str) -> dict[str, str]:
    """Named statements of a .sql file, each introduced by ``-- name: <name>``."""
    statements: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in read_sql(relative).splitlines():
        if line.startswith("-- name:"):
            if name:
                statements[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif name:
            lines.append(line)
    if name:
        statements[name] = "\n".join(lines).strip()
    return statements
