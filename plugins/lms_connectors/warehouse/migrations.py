"""Versioned SQL migrations, applied once each and recorded in ops.schema_migrations.

Files are ``include/sql/migrations/V<NNN>__<name>.sql``. Each pending file is
applied in its own transaction under an advisory lock, so two deploys cannot
apply the same migration twice. An applied file whose content changed is an
error: migrations are append-only.

Migrations run as the warehouse owner, in the deploy step
(``lms_connectors.warehouse.deploy``). At run time the tasks only call
:func:`check_current`, which fails with a clear message when the schema is
not the one the code expects.

Command: ``python -m lms_connectors.warehouse.migrations --dsn OWNER_DSN`` (or
``--conn-id`` for an Airflow Connection that logs in as the owner).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import re
import sys
from pathlib import Path

import psycopg

from lms_connectors.rules.errors import PermanentError
from lms_connectors.rules.paths import MIGRATIONS_DIR

log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^V(\d{3,})__([a-z0-9_]+)\.sql$")
# Any constant shared by every process that migrates this warehouse.
_LOCK_KEY = 0x4C4D5301


class MigrationError(RuntimeError, PermanentError):
    pass


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME_RE.match(path.name)
        if not m:
            raise MigrationError(f"migration file {path.name} does not match V<NNN>__<name>.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return sorted(found, key=lambda m: m.version)


DEPLOY_HINT = (
    "run the deploy step as the warehouse owner: `make migrate` (embedded stack), `docker compose run --rm "
    "airflow-init` (compose), or `python -m lms_connectors.warehouse.deploy --dsn <owner DSN>`"
)


def check_current(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> None:
    """Raise MigrationError unless the warehouse holds exactly the migrations of this code."""
    try:
        with conn.transaction():
            done = dict(conn.execute("SELECT version, checksum FROM ops.schema_migrations").fetchall())
    except psycopg.errors.UndefinedTable:
        raise MigrationError(f"the warehouse has no schema yet; {DEPLOY_HINT}") from None
    known = discover(directory)
    pending = [f"V{m.version:03d}__{m.name}" for m in known if m.version not in done]
    edited = [f"V{m.version:03d}__{m.name}" for m in known if m.version in done and done[m.version] != m.checksum]
    newer = sorted(set(done) - {m.version for m in known})
    if edited:
        raise MigrationError(f"migration(s) {', '.join(edited)} differ from the ones applied to the warehouse")
    if newer:
        raise MigrationError(
            f"the warehouse has migration(s) {', '.join(f'V{v:03d}' for v in newer)} this code does not know: "
            "deploy the same version of the project everywhere"
        )
    if pending:
        raise MigrationError(f"the warehouse schema is not current: {', '.join(pending)} not applied; {DEPLOY_HINT}")


def apply_pending(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; return the names applied."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
        conn.execute(
            """CREATE TABLE IF NOT EXISTS ops.schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {v: c for v, c in conn.execute("SELECT version, checksum FROM ops.schema_migrations").fetchall()}
        for mig in discover(directory):
            if mig.version in done:
                if done[mig.version] != mig.checksum:
                    raise MigrationError(
                        f"migration V{mig.version:03d}__{mig.name} was edited after it was applied; "
                        "add a new migration instead"
                    )
                continue
            log.info("applying migration V%03d__%s", mig.version, mig.name)
            with conn.transaction():
                conn.execute(mig.sql)
                conn.execute(
                    "INSERT INTO ops.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (mig.version, mig.name, mig.checksum),
                )
            applied_now.append(f"V{mig.version:03d}__{mig.name}")
    return applied_now


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lms_connectors.warehouse.migrations", description=__doc__)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--conn-id", default="lms_warehouse", help="Airflow Connection id (default lms_warehouse)")
    target.add_argument("--dsn", help="a libpq connection string instead of an Airflow Connection")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.dsn:
        conn = psycopg.connect(args.dsn)
    else:
        from lms_connectors.warehouse.db import connect

        conn = connect(args.conn_id)
    with conn:
        names = apply_pending(conn)
    print("applied: " + (", ".join(names) if names else "nothing (up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
