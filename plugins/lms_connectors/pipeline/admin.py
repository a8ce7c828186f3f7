"""Admin actions on a connector's catalogue: apply settings now, deactivate, reactivate.

Applying settings never calls the provider: it only adds or removes the
``language_filter`` and ``connector_deactivated`` reasons, in one
transaction, so a course archived for a provider reason stays archived.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.rows import dict_row

from lms_connectors.rules.paths import sql_statements
from lms_connectors.rules.settings import ConnectorSettings
from lms_connectors.warehouse.audit import audit
from lms_connectors.warehouse.db import lock_connector

log = logging.getLogger(__name__)


def apply_settings(
    conn: psycopg.Connection,
    connector_id: str,
    settings: ConnectorSettings,
    *,
    dry_run: bool = False,
    actor: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Bring the catalogue in line with ``settings``; with ``dry_run`` report and change nothing.

    ``actor``: who asked (an admin's form); the change is then written to ops.audit_log. Without
    one (a run applying a Variable edited by hand), only a change that archived or unarchived is."""
    sql = sql_statements("catalogue/apply_settings.sql")
    params = {"connector_id": connector_id, "languages": list(settings.languages), "enabled": settings.enabled}
    with conn.transaction():
        lock_connector(conn, connector_id)
        conn.execute(sql["plan"], params)
        with conn.cursor(row_factory=dict_row) as cur:
            changes = cur.execute(sql["changes"]).fetchone()
        samples = dict(conn.execute(sql["samples"]).fetchall())
        written = 0 if dry_run else conn.execute(sql["apply"]).rowcount
        conn.execute("DROP TABLE settings_plan")
        if not dry_run and (actor or written):
            audit(
                conn,
                actor or "system",
                "apply_settings" if settings.enabled else "deactivate",
                connector_id=connector_id,
                run_id=run_id,
                details={"languages": list(settings.languages), "enabled": settings.enabled, "rows_written": written},
            )
    result = {
        "dry_run": dry_run,
        "enabled": settings.enabled,
        "languages": list(settings.languages),
        "archived": changes["archived"],
        "unarchived": changes["unarchived"],
        "active_after": changes["active_after"],
        "rows_written": written,
        "archived_titles": samples.get("archived", []),
        "unarchived_titles": samples.get("unarchived", []),
    }
    log.info("%s settings for %s: %s", "dry run of" if dry_run else "applied", connector_id, result)
    return result
