"""Healing: a learner seen unmatched who has become an LMS user's gets their whole history.

A provider learner whose records matched no LMS user is kept as keyed hashes and the days they were
seen on (``ops.unmatched_learners``, within the unmatched learners' retention). When the LMS then
knows them (a new user, a new email or identity, a changed email), each run's last activity step
reads the provider's activity of those days again, keeps the records of those learners alone, and
loads them as a replay of each day would: the other learners' rows are not staged, so not one of
them is written. The tables then hold what they would had the learner been an LMS user from their
first day. A healing that would read more than ``heal_max_days`` days or heal more than
``heal_max_learners`` learners waits, reported, until a run is started with ``approve_healing``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from lms_connectors.pipeline import Connector
    from lms_connectors.privacy.pseudonym import RunKeys
    from lms_connectors.providers import Provider, ProviderClient
    from lms_connectors.rules.context import RunContext

log = logging.getLogger(__name__)


def _healable() -> str:
    """The unmatched learners of a connector that the LMS now knows, matched as the transform matches."""
    from lms_connectors.pipeline.progress import MATCH_JOINS, MATCHED_USERS

    return f"""SELECT a.learner_hash, a.identity_hash, a.seen_on
               FROM ops.unmatched_learners a {MATCH_JOINS}
               WHERE a.connector_id = %s AND {MATCHED_USERS} = 1
               ORDER BY a.learner_hash"""


@dataclasses.dataclass(frozen=True)
class Healing:
    """The learners to heal (their hashes) and the days to read again, outside this run's interval."""

    learners: int
    hashes: frozenset[str]
    days: tuple[dt.date, ...]

    def within(self, max_learners: int, max_days: int) -> bool:
        return self.learners <= max_learners and len(self.days) <= max_days


def plan(conn: psycopg.Connection, ctx: RunContext, provider: Provider, key: bytes) -> Healing:
    """The healing this run owes: learners the LMS now knows (hashed with ``key``), and the days they
    were seen on outside the run's interval (the run itself read its own; a backfill of an old day
    owes the later ones)."""
    from lms_connectors.pipeline import progress

    with conn.transaction():
        progress.stage_user_hashes(conn, key, provider)
        rows = conn.execute(_healable(), (ctx.connector_id,)).fetchall()
    conn.commit()
    first, end = ctx.interval_start.date(), ctx.interval_end.date()
    if ctx.interval_end.time() != dt.time():
        end += dt.timedelta(days=1)
    days = sorted({d for _, _, seen in rows for d in seen if not first <= d < end})
    hashes = frozenset(h for learner, identity, _ in rows for h in (learner, identity) if h)
    return Healing(len(rows), hashes, tuple(days))


def heal(conn: psycopg.Connection, ctx: RunContext, connector: Connector) -> dict[str, Any]:
    """Read again, for the learners the LMS now knows, every day they went unrecognised, and load their
    records alone; then they are no longer unmatched. Counts: ``healed_learners``, ``days_read``, and
    ``pending_learners``/``pending_days`` when the healing exceeds the settings' bounds and this run
    was not started with ``approve_healing``."""
    nothing = {"healed_learners": 0, "days_read": 0}
    # Most runs have no unmatched learner left to look at: the LMS users are then not hashed again.
    if not conn.execute(
        "SELECT EXISTS (SELECT 1 FROM ops.unmatched_learners WHERE connector_id = %s)", (ctx.connector_id,)
    ).fetchone()[0]:
        conn.commit()
        return nothing
    keys = connector.keys(conn)
    healing = plan(conn, ctx, connector.provider, keys.learner)
    settings = ctx.settings
    if not healing.learners:
        return nothing
    within = healing.within(settings.heal_max_learners, settings.heal_max_days)
    if not (ctx.approve_healing or within):
        log.warning(
            "%d learners the LMS now knows went unrecognised on %d days: above heal_max_learners (%d) or "
            "heal_max_days (%d), so their history waits: start a run with approve_healing = true to load it",
            healing.learners,
            len(healing.days),
            settings.heal_max_learners,
            settings.heal_max_days,
        )
        return {
            **nothing,
            "pending_learners": healing.learners,
            "pending_days": len(healing.days),
        }
    client = connector.client()
    records = sum(_heal_day(conn, ctx, connector.provider, client, keys, day, healing.hashes) for day in healing.days)
    with conn.transaction():
        forgotten = conn.execute(
            """DELETE FROM ops.unmatched_learners
               WHERE connector_id = %(c)s AND (learner_hash = ANY(%(h)s) OR identity_hash = ANY(%(h)s))""",
            {"c": ctx.connector_id, "h": sorted(healing.hashes)},
        ).rowcount
    log.info(
        "healed %d learners the LMS now knows: %d days read again, %d of their records loaded",
        forgotten,
        len(healing.days),
        records,
    )
    counts = {"healed_learners": forgotten, "days_read": len(healing.days), "records_loaded": records}
    # Recorded with the run: this healing went beyond the settings' bounds because a run approved it.
    return counts if within else {**counts, "approved_beyond_bounds": True}


def _heal_day(
    conn: psycopg.Connection,
    ctx: RunContext,
    provider: Provider,
    client: ProviderClient,
    keys: RunKeys,
    day: dt.date,
    hashes: frozenset[str],
) -> int:
    """One day read again, the healed learners' records alone staged and loaded as a replay (a run of
    its own in staging: ``<run key>/heal/<day>``); the number of their records loaded."""
    from lms_connectors.pipeline import progress

    run_id = f"{ctx.run_key}/heal/{day.isoformat()}"
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=1)
    # Each stage committed before the next, as the pipeline commits each step: validation reads the
    # transform's rows through a second session, and each stage's temporary tables go at commit.
    conn.commit()
    extracted = progress.extract_activity(
        conn,
        lambda: client.iter_activity_pages(start, end),
        run_id,
        keys.learner,
        provider,
        suppression_key=keys.suppression,
        only=hashes,
    )
    conn.commit()
    progress.transform_progress(conn, run_id, ctx.connector_id, keys.learner, provider)
    conn.commit()
    progress.validate_progress(conn, run_id, ctx.connector_id, ctx.settings, start, end)
    conn.commit()
    progress.load_progress(
        conn,
        run_id,
        ctx.connector_id,
        start,
        end,
        measured=provider.time_rule.summed_by_day,
        max_replay_delete_share=ctx.settings.max_replay_delete_share,
        erasure_generation=extracted["erasure_generation"],
    )
    conn.commit()
    return int(extracted["records"])
