"""User merges: two LMS accounts of one person, merged by the LMS (``lms.user_merges``), have one
history. Each run first moves the retired account's statistics of its connector to the surviving
account, where a day or a course both hold keeping the newer record as two records of one learner
do (the measured time summed again over the days kept); the transform then matches the retired
account's emails and identities to the survivor. The result is the history of a world where the
retired account's addresses had been the survivor's from the start."""

from __future__ import annotations

import logging

import psycopg

from lms_connectors.rules.paths import sql_statements
from lms_connectors.warehouse.db import lock_connector

log = logging.getLogger(__name__)

_STEPS = (
    "daily_older_retired",
    "daily_older_survivor",
    "daily_move",
    "current_older_retired",
    "current_older_survivor",
    "current_move",
)


def apply_merges(conn: psycopg.Connection, connector_id: str, *, measured: bool) -> int:
    """Move the retired accounts' rows of ``connector_id`` to their survivors (under the connector's
    lock, in one transaction); the number of rows moved or dropped for a newer one."""
    sql = sql_statements("stats/merge_users.sql")
    merge = sql_statements("stats/merge_progress.sql")
    params = {"connector_id": connector_id}
    with conn.transaction():
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM lms.user_merges)").fetchone()[0]:
            return 0
        lock_connector(conn, connector_id)
        conn.execute(f"CREATE TEMP TABLE user_merge_map ON COMMIT DROP AS {sql['survivors']}")
        conn.execute(sql["keys"], params)
        changed = sum(conn.execute(sql[step], params).rowcount for step in _STEPS)
        if measured and changed:
            conn.execute(merge["accumulate_daily"], params)
            conn.execute(merge["accumulate_current"], params)
        conn.execute("DROP TABLE user_merge_map, progress_keys")
    if changed:
        log.info("user merges: %d statistics rows of %s moved to the surviving accounts", changed, connector_id)
    return changed
