"""The deploy step, run as the warehouse owner: migrations, then the runtime logins.

Nothing at run time migrates or creates roles: the DAG's tasks log in as
``lms_connector`` (a member of ``lms_sync``), the health page as
``lms_health`` (a member of ``lms_monitor``), the xAPI endpoint as ``lms_xapi``
(a member of ``lms_xapi_writer``). This step creates or updates those logins
with the passwords it is given. The owner needs CREATEROLE
(``docker/postgres-init.sh`` and the embedded stack create it so).

    python -m lms_connectors.warehouse.deploy --dsn OWNER_DSN
        passwords from the environment: LMS_SYNC_PASSWORD, LMS_HEALTH_PASSWORD, LMS_XAPI_PASSWORD

Passwords are sent as SCRAM-SHA-256 verifiers computed here, so the clear
password never appears in SQL text or in the server's statement log.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import logging
import os
import secrets
import sys
from collections.abc import Mapping

import psycopg
from psycopg import sql

from lms_connectors.warehouse import migrations

log = logging.getLogger(__name__)

# Runtime login -> the group role (created by the migrations) it belongs to.
LOGINS = {"lms_connector": "lms_sync", "lms_health": "lms_monitor", "lms_xapi": "lms_xapi_writer"}
PASSWORD_ENV = {
    "lms_connector": "LMS_SYNC_PASSWORD",
    "lms_health": "LMS_HEALTH_PASSWORD",
    "lms_xapi": "LMS_XAPI_PASSWORD",
}
SCRAM_ITERATIONS = 4096


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802 / 7677).

    ASCII passwords only: PostgreSQL normalises others with SASLprep first,
    which this does not reproduce.
    """
    if not password.isascii():
        raise ValueError("runtime login passwords must be ASCII")
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def ensure_login(conn: psycopg.Connection, login: str, group: str, password: str) -> str:
    """Create ``login`` (or reset its password) as a member of ``group``, with no other right."""
    exists = conn.execute(
        "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication FROM pg_roles "
        "WHERE rolname = %s",
        (login,),
    ).fetchone()
    verifier = sql.Literal(scram_verifier(password))
    name = sql.Identifier(login)
    if exists and exists[0]:
        raise PermissionError(
            f"role {login} already exists with rights a runtime login must not have (superuser, createrole, "
            "createdb, bypassrls or replication): a database administrator must remove them"
        )
    if exists:
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(name, verifier))
    else:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(name, verifier))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), name))
    revoke_others(conn, login, group)
    return "updated" if exists else "created"


def revoke_others(conn: psycopg.Connection, login: str, group: str) -> None:
    """Whatever the login was given besides ``group``: other memberships, grants on tables,
    sequences and functions of the warehouse. It has what its group has, nothing else."""
    name = sql.Identifier(login)
    members_sql = """SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
                     WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = %s) AND r.rolname <> %s"""
    for (role,) in conn.execute(members_sql, (login, group)).fetchall():
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(role), name))
    # A REVOKE of what someone else granted only warns and leaves it: say so, and stop.
    left = [role for (role,) in conn.execute(members_sql, (login, group)).fetchall()]
    if left:
        raise PermissionError(
            f"role {login} is also a member of {', '.join(left)}, granted by someone the deploy step cannot revoke "
            f"for: a database administrator must run REVOKE {', '.join(left)} FROM {login}"
        )
    for schema, table in conn.execute(
        "SELECT DISTINCT table_schema, table_name FROM information_schema.role_table_grants WHERE grantee = %s",
        (login,),
    ).fetchall():
        conn.execute(sql.SQL("REVOKE ALL ON {}.{} FROM {}").format(sql.Identifier(schema), sql.Identifier(table), name))
    for schema in ("staging", "lms", "stats", "ops", "xapi"):
        ident = sql.Identifier(schema)
        conn.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(ident, name))
        conn.execute(sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {} FROM {}").format(ident, name))


def deploy(conn: psycopg.Connection, passwords: Mapping[str, str]) -> list[str]:
    """Apply pending migrations, then create or update every runtime login of ``passwords``."""
    done = [f"migration {name} applied" for name in migrations.apply_pending(conn)]
    with conn.transaction():
        for login, password in passwords.items():
            if login not in LOGINS:
                raise ValueError(f"unknown runtime login {login!r}; expected one of {', '.join(LOGINS)}")
            done.append(f"login {login} {ensure_login(conn, login, LOGINS[login], password)}")
        restrict_database(conn)
    return done


# Who may connect to the warehouse database, and who may create temporary tables (the merges do).
CONNECT_ROLES = ("lms_sync", "lms_monitor", "lms_analyst", "lms_app", "lms_xapi_writer")
TEMP_ROLES = ("lms_sync",)


def restrict_database(conn: psycopg.Connection) -> None:
    """No login connects to the warehouse database, or creates temporary tables in it, through PUBLIC:
    only the roles that need it, by name."""
    db = sql.Identifier(conn.execute("SELECT current_database()").fetchone()[0])
    roles = sql.SQL(", ").join(map(sql.Identifier, CONNECT_ROLES))
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, roles))
    conn.execute(
        sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(db, sql.SQL(", ").join(map(sql.Identifier, TEMP_ROLES)))
    )
    conn.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(db))


def passwords_from_env(env: Mapping[str, str]) -> dict[str, str]:
    missing = [var for var in PASSWORD_ENV.values() if not env.get(var)]
    if missing:
        raise SystemExit(f"missing environment variables: {', '.join(missing)}")
    return {login: env[var] for login, var in PASSWORD_ENV.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lms_connectors.warehouse.deploy", description=__doc__)
    p.add_argument("--dsn", required=True, help="libpq connection string of the warehouse owner")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    passwords = passwords_from_env(os.environ)
    with psycopg.connect(args.dsn) as conn:
        for line in deploy(conn, passwords) or ["nothing to do"]:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
