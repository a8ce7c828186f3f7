"""Learner privacy as admin actions: erase, export, rotate a connector's key (DAGs and a CLI).

The DAGs ``lms_connectors_erase_learners``, ``lms_connectors_export_learners``,
``lms_connectors_find_learner`` and ``lms_connectors_rotate_key`` (``lms_connectors.orchestration.privacy_dags``) and this
module's command line call the same functions::

    python -m lms_connectors.privacy erase --email a@b.example --reason "ticket 42" [--apply]
    python -m lms_connectors.privacy export --user-id u00042 --output learner.json
    python -m lms_connectors.privacy find --connector <connector id> --email a@b.example [--attach-to u00042 --reason "ticket 7" --apply]
    python -m lms_connectors.privacy find --connector <connector id> --learner-id E-1234 [--attach-to ...]
    python -m lms_connectors.privacy rotate-key --connector <connector id> --reason "yearly" [--apply]

Every warehouse of the registry is covered (one per distinct ``warehouse_conn_id``),
with each connector's own pseudonymisation key.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lms_connectors.privacy import erasure, pseudonym
from lms_connectors.providers.registry import ConnectorSpec, load_registry
from lms_connectors.rules.errors import PermanentError
from lms_connectors.warehouse.audit import audit
from lms_connectors.warehouse.db import lock_connector

log = logging.getLogger(__name__)


class RotationRefused(RuntimeError, PermanentError):
    """A connector run is in flight: its extract and transform must hash with one key."""


def warehouses(specs: Sequence[ConnectorSpec]) -> dict[str, list[ConnectorSpec]]:
    by_conn: dict[str, list[ConnectorSpec]] = {}
    for spec in specs:
        by_conn.setdefault(spec.warehouse_conn_id, []).append(spec)
    return by_conn


def _masters(specs: Sequence[ConnectorSpec]) -> tuple[dict[str, bytes], bytes]:
    keys = {
        spec.pseudonymisation_conn_id: pseudonym.key_from_connection(spec.pseudonymisation_conn_id) for spec in specs
    }
    return {spec.id: keys[spec.pseudonymisation_conn_id] for spec in specs}, keys[specs[0].pseudonymisation_conn_id]


def erase_learners(
    user_ids: Sequence[str],
    emails: Sequence[str],
    reason: str,
    *,
    dry_run: bool,
    run_id: str,
    actor: str,
    at: dt.datetime,
    specs: Sequence[ConnectorSpec] | None = None,
) -> dict[str, Any]:
    from lms_connectors.warehouse import migrations
    from lms_connectors.warehouse.db import connect

    results = {}
    for conn_id, group in warehouses(specs or load_registry()).items():
        masters, default = _masters(group)
        with connect(conn_id) as conn:
            migrations.check_current(conn)
            person = erasure.identify(conn, masters, default, user_ids, emails)
            results[conn_id] = erasure.erase(
                conn, person, run_id=run_id, reason=reason, actor=actor, at=at, dry_run=dry_run
            )
    return results


def export_learners(
    user_ids: Sequence[str],
    emails: Sequence[str],
    *,
    run_id: str,
    actor: str,
    specs: Sequence[ConnectorSpec] | None = None,
) -> dict[str, Any]:
    from lms_connectors.warehouse import migrations
    from lms_connectors.warehouse.db import connect

    out: dict[str, Any] = {}
    for conn_id, group in warehouses(specs or load_registry()).items():
        masters, default = _masters(group)
        with connect(conn_id) as conn:
            migrations.check_current(conn)
            person = erasure.identify(conn, masters, default, user_ids, emails)
            out[conn_id] = erasure.export(conn, person)
            with conn.transaction():
                rows = sum(len(v) for v in out[conn_id]["tables"].values())
                audit(conn, actor, "export_learners", run_id=run_id, details={"rows": rows})
    return out


# Where the export DAG writes (mode 0600): LMS_EXPORT_DIR, else $AIRFLOW_HOME/lms_exports. Retention
# deletes its files after export_days; with several workers it must be a folder they share.
EXPORT_DIR_ENV = "LMS_EXPORT_DIR"


def export_folder() -> Path:
    return Path(os.environ.get(EXPORT_DIR_ENV) or Path(os.environ.get("AIRFLOW_HOME", ".")) / "lms_exports")


def write_export(data: dict[str, Any], path: Path) -> Path:
    """The export as a JSON file only its owner may read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=str, ensure_ascii=False)
    os.chmod(path, 0o600)
    return path


# Hashes a rotation leaves unmatchable, and so purges: every table that keeps one.
ROTATION_PURGES = (
    ("ops.unmatched_learners", "DELETE FROM ops.unmatched_learners WHERE connector_id = %(c)s"),
    # Pushed statements hashed with the old key: the daily run of their days stays the truth.
    ("xapi.statements", "DELETE FROM xapi.statements WHERE connector_id = %(c)s"),
    (
        "ops.rejected_records",
        """UPDATE ops.rejected_records SET record = record - 'learner_hash'
           WHERE connector_id = %(c)s AND record ? 'learner_hash'""",
    ),
    (
        "staging.progress",
        """DELETE FROM staging.progress WHERE run_id IN
           (SELECT run_id FROM ops.sync_runs WHERE connector_id = %(c)s)""",
    ),
    (
        "staging.raw_activity",
        """DELETE FROM staging.raw_activity WHERE run_id IN
           (SELECT run_id FROM ops.sync_runs WHERE connector_id = %(c)s)""",
    ),
)


def rotate_key(
    conn: Any, connector_id: str, *, run_id: str, actor: str, reason: str, at: dt.datetime, dry_run: bool = True
) -> dict[str, Any]:
    """A new version of the connector's key, and no hash left under the old ones."""

    def work() -> dict[str, Any]:
        lock_connector(conn, connector_id)
        running = conn.execute(
            "SELECT count(*) FROM ops.sync_runs WHERE connector_id = %s AND status = 'running'", (connector_id,)
        ).fetchone()[0]
        if running:
            raise RotationRefused(
                f"{running} run(s) of connector {connector_id!r} are running (ops.sync_runs status 'running'); "
                "rotate when none is: a run's extract and transform must hash with the same key"
            )
        old = pseudonym.current_version(conn, connector_id)
        counts = {table: conn.execute(sql, {"c": connector_id}).rowcount for table, sql in ROTATION_PURGES}
        result = {"dry_run": dry_run, "connector_id": connector_id, "from_version": old, "to_version": old + 1}
        result["rows"] = counts
        conn.execute(
            "INSERT INTO ops.pseudonym_keys (connector_id, version, created_at, run_id) VALUES (%s, %s, %s, %s)",
            (connector_id, old + 1, at, run_id),
        )
        audit(conn, actor, "rotate_key", connector_id=connector_id, run_id=run_id, details={**result, "reason": reason})
        return result

    result = erasure.in_transaction(conn, work, dry_run)
    log.info("%srotation of the pseudonymisation key of %s: %s", "DRY RUN of " if dry_run else "", connector_id, result)
    return result


def _entry(connector_id: str, registry: Sequence[ConnectorSpec]) -> ConnectorSpec:
    """The registry entry of ``connector_id``; a request naming another connector is refused."""
    spec = next((s for s in registry if s.id == connector_id), None)
    if spec is None:
        raise erasure.ErasureRequestError(f"no connector {connector_id!r} in the registry")
    return spec


def rotate(
    connector_id: str, *, run_id: str, actor: str, reason: str, at: dt.datetime, dry_run: bool = True
) -> dict[str, Any]:
    from lms_connectors.warehouse import migrations
    from lms_connectors.warehouse.db import connect

    spec = _entry(connector_id, load_registry())
    with connect(spec.warehouse_conn_id) as conn:
        migrations.check_current(conn)
        return rotate_key(conn, connector_id, run_id=run_id, actor=actor, reason=reason, at=at, dry_run=dry_run)


@dataclasses.dataclass(frozen=True)
class LookedUp:
    """The one learner an admin looks up: an email, or a learner id of the kind the connector's
    records carry; ``attach`` is the owner's function that gives it to an LMS user, and its arguments
    after the user id."""

    person: erasure.Person
    what: str  # "email" or "id": the answer's messages and the audit action name it
    attach: str
    attach_args: tuple[str, ...]

    def __repr__(self) -> str:
        # Never the email or the id: a repr lands in logs.
        return f"LookedUp({self.what})"


def look_up_learner(
    conn: Any,
    connector_id: str,
    learner: LookedUp,
    *,
    attach_to: str | None,
    reason: str,
    run_id: str,
    actor: str,
    dry_run: bool = True,
) -> dict[str, Any]:
    """Whether ``learner`` is among ``connector_id``'s unmatched learners, since when and on how many
    days; with ``attach_to`` (an LMS user id), their email or id is attached to that user
    (``lms.user_emails`` or ``lms.user_identities``, through the owner's function; audited, never
    whom) unless ``dry_run``. Never lists another learner; the answer holds no email, id or hash. An
    erased learner is never attached: suppression wins over every identity."""
    hashes = list(learner.person.hashes)
    seen = conn.execute(
        """SELECT min(d), max(u.last_seen_date), count(DISTINCT d)
           FROM ops.unmatched_learners u LEFT JOIN LATERAL unnest(u.seen_on) AS d ON true
           WHERE u.connector_id = %s AND (u.learner_hash = ANY(%s) OR u.identity_hash = ANY(%s))""",
        (connector_id, hashes, hashes),
    ).fetchone()
    erased = conn.execute(
        "SELECT count(*) FROM ops.suppressed_learners WHERE suppression_hash = ANY(%s)",
        (list(learner.person.suppression_hashes),),
    ).fetchone()[0]
    answer: dict[str, Any] = {
        "dry_run": dry_run,
        "connector_id": connector_id,
        "unmatched": seen[1] is not None,
        "first_seen": seen[0] and seen[0].isoformat(),
        "last_seen": seen[1] and seen[1].isoformat(),
        "days_seen": int(seen[2] or 0),
        "lms_users": len(learner.person.user_ids),
        "erased": bool(erased),
        "attached": False,
    }
    if attach_to is None:
        return answer
    refusal = _attach_refusal(conn, answer, attach_to, reason, learner.what)
    if refusal:
        raise erasure.ErasureRequestError(refusal)

    def work() -> bool:
        args = (attach_to, *learner.attach_args)
        (added,) = conn.execute(f"SELECT lms.{learner.attach}({', '.join(['%s'] * len(args))})", args).fetchone()
        # Never whom: the sync may not edit the audit log, so a user id here would outlive the
        # user's erasure. The attachment itself is in the LMS's tables, which the LMS erases.
        details = {"added": added, "reason": reason, "days_seen": answer["days_seen"]}
        audit(conn, actor, f"attach_learner_{learner.what}", connector_id=connector_id, run_id=run_id, details=details)
        return bool(added)

    answer[f"{learner.what}_added"] = erasure.in_transaction(conn, work, dry_run)
    answer["attached"] = not dry_run
    return answer


def _attach_refusal(conn: Any, answer: dict[str, Any], attach_to: str, reason: str, what: str) -> str | None:
    """Why the looked-up email or id may not be attached to ``attach_to``, or None."""
    if not reason.strip():
        return f"give a reason (a request or ticket reference) to attach an {what}"
    if answer["erased"]:
        return "this learner was erased: an erased learner is never attached to a user"
    if answer["lms_users"]:
        return f"this {what} is already an LMS user's: its records match that user"
    if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM lms.users WHERE user_id = %s)", (attach_to,)).fetchone()[0]:
        return f"no LMS user {attach_to!r}"
    return None


def find_learner(
    connector_id: str,
    email: str | None,
    *,
    learner_id: str | None = None,
    attach_to: str | None,
    reason: str,
    run_id: str,
    actor: str,
    dry_run: bool = True,
    specs: Sequence[ConnectorSpec] | None = None,
) -> dict[str, Any]:
    """:func:`look_up_learner` on the connector's warehouse, for one email or one learner id (the
    kind of identity the connector's provider declares), with every hash of it."""
    from lms_connectors import providers
    from lms_connectors.warehouse import migrations
    from lms_connectors.warehouse.db import connect

    if bool((email or "").strip()) == bool((learner_id or "").strip()):
        raise erasure.ErasureRequestError("give exactly one email or one learner id to look up")
    registry = list(specs or load_registry())
    spec = _entry(connector_id, registry)
    provider = providers.get(spec.provider)
    if learner_id and provider.learner_id_kind is None:
        raise erasure.ErasureRequestError(
            f"{provider.label}'s records carry no learner id: look the learner up by their email"
        )
    group = warehouses(registry)[spec.warehouse_conn_id]
    masters, default = _masters(group)
    with connect(spec.warehouse_conn_id) as conn:
        migrations.check_current(conn)
        if learner_id:
            kind, issuer = str(provider.learner_id_kind), provider.identity_issuer
            person = erasure.identify_learner_id(conn, masters, default, kind, issuer, learner_id)
            learner = LookedUp(person, "id", "attach_identity", (kind, issuer, learner_id.strip()))
        else:
            person = erasure.identify(conn, masters, default, [], [str(email)])
            learner = LookedUp(person, "email", "attach_email", (person.emails[0],))
        return look_up_learner(
            conn, connector_id, learner, attach_to=attach_to, reason=reason, run_id=run_id, actor=actor, dry_run=dry_run
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lms_connectors.privacy", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("erase", "export"):
        p = sub.add_parser(name)
        p.add_argument("--user-id", action="append", default=[], help="an LMS user id (repeat for more)")
        p.add_argument("--email", action="append", default=[], help="a learner email (repeat for more)")
        if name == "erase":
            p.add_argument("--reason", required=True, help="why (a request or ticket reference)")
            p.add_argument("--apply", action="store_true", help="erase for real (default: a dry run that counts)")
        else:
            p.add_argument("--output", type=Path, help="a JSON file (mode 0600); default: standard output")
    p = sub.add_parser("find")
    p.add_argument("--connector", required=True)
    one = p.add_mutually_exclusive_group(required=True)
    one.add_argument("--email", help="the one learner email to look up")
    one.add_argument("--learner-id", help="or the one learner id the provider's records carry (uniqueUserId, userId)")
    p.add_argument("--attach-to", help="an LMS user id to attach the email or id to (with --reason and --apply)")
    p.add_argument("--reason", default="", help="why (a request or ticket reference); required to attach")
    p.add_argument("--apply", action="store_true", help="attach for real (default: a dry run)")
    p = sub.add_parser("rotate-key")
    p.add_argument("--connector", required=True)
    p.add_argument("--reason", required=True)
    p.add_argument("--apply", action="store_true", help="rotate for real (default: a dry run that counts)")
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.UTC)
    run_id = f"cli__{now:%Y%m%dT%H%M%S}"
    actor = f"cli:{os.environ.get('USER', 'unknown')}"
    try:
        if args.command == "erase":
            result: Any = erase_learners(
                args.user_id, args.email, args.reason, dry_run=not args.apply, run_id=run_id, actor=actor, at=now
            )
        elif args.command == "export":
            result = export_learners(args.user_id, args.email, run_id=run_id, actor=actor)
            if args.output:
                write_export(result, args.output)
                result = {"written": str(args.output)}
        elif args.command == "find":
            result = find_learner(
                args.connector,
                args.email,
                learner_id=args.learner_id,
                attach_to=args.attach_to,
                reason=args.reason,
                run_id=run_id,
                actor=actor,
                dry_run=not args.apply,
            )
        else:
            result = rotate(
                args.connector, run_id=run_id, actor=actor, reason=args.reason, at=now, dry_run=not args.apply
            )
    except PermanentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2, default=str, ensure_ascii=False)
    print()
    return 0
