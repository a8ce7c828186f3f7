"""The embedded warehouse: Postgres 16 from the pgserver wheel, in a project-local folder.

Started once and left running (its PID is in ``<dir>/postmaster.pid``);
stopped by that PID, never by name.

pgserver initialises a cluster that trusts every local login. :func:`secure`
gives the superuser a password and requires SCRAM passwords of every login,
as a production server does; :func:`ensure_database` creates the warehouse's
owner (a login that may create roles, not a superuser) and its database;
:func:`deploy` runs the deploy step as that owner (migrations, then the
runtime logins). The same functions set up the tests' and the benchmark's
clusters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

SUPERUSER = "postgres"
OWNER = "lms_owner"
SYNC_LOGIN = "lms_connector"
HEALTH_LOGIN = "lms_health"
# The xAPI endpoint (python -m lms_connectors.xapi serve): adds statements, reads credentials.
XAPI_LOGIN = "lms_xapi"
# Dashboards and analysts (`make analyst-login`): a member of lms_analyst, a password per request.
ANALYST_LOGIN = "lms_reader"
ANALYST_ROLE = "lms_analyst"
# Airflow's metadata database: its owner, nothing else (no superuser, no CREATEDB or CREATEROLE).
AIRFLOW_LOGIN = "lms_airflow"
LOGINS = (SUPERUSER, OWNER, SYNC_LOGIN, HEALTH_LOGIN, XAPI_LOGIN, AIRFLOW_LOGIN)
SECURE_HBA = (
    "# Written by devstack.postgres: every login needs its password.\n"
    "local all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n"
)


def new_secrets() -> dict[str, str]:
    """Random passwords for every login, a pseudonymisation key and a Fernet key (Airflow's
    encryption of the Connections and Variables it stores)."""
    from cryptography.fernet import Fernet

    from lms_connectors.privacy.pseudonym import generate_key

    return {
        **{login: secrets.token_urlsafe(24) for login in LOGINS},
        "pseudonymisation_key": generate_key(),
        "fernet_key": Fernet.generate_key().decode(),
    }


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A cluster on a Unix socket and the passwords of the logins the project uses."""

    socket_dir: str
    secrets: dict[str, str] = dataclasses.field(repr=False)

    def __repr__(self) -> str:
        return f"Cluster(socket_dir={self.socket_dir!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Failure reports (hypothesis, IPython) print objects this way: passwords never.
        printer.text(repr(self))

    def conninfo(self, login: str = SUPERUSER, dbname: str = "postgres") -> str:
        return make_conninfo(host=self.socket_dir, dbname=dbname, user=login, password=self.secrets[login])

    def connect(self, login: str = SUPERUSER, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(login, dbname), **kwargs)

    def airflow_conn(self, login: str, dbname: str) -> dict[str, Any]:
        """An Airflow Postgres Connection (JSON form) for ``login`` on ``dbname``."""
        return {
            "conn_type": "postgres",
            "host": self.socket_dir,
            "port": 5432,
            "login": login,
            "password": self.secrets[login],
            "schema": dbname,
        }


def _rules(hba: str) -> list[str]:
    """The lines of a pg_hba.conf that are rules (a comment of an older version does not matter)."""
    return [" ".join(line.split()) for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def secure(data_dir: Path, cluster: Cluster) -> bool:
    """Require SCRAM passwords of every login (the superuser's included); True if it changed anything."""
    from lms_connectors.warehouse.deploy import scram_verifier

    hba = data_dir / "pg_hba.conf"
    if _rules(hba.read_text()) == _rules(SECURE_HBA):
        return False
    # The cluster still trusts local logins: the last time a password is not needed.
    with psycopg.connect(
        make_conninfo(host=cluster.socket_dir, dbname="postgres", user=SUPERUSER), autocommit=True
    ) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(SUPERUSER), sql.Literal(scram_verifier(cluster.secrets[SUPERUSER]))
            )
        )
        hba.write_text(SECURE_HBA)
        conn.execute("SELECT pg_reload_conf()")
    return True


def ensure_database(cluster: Cluster, dbname: str, *, replace_foreign: bool = False, fresh: bool = False) -> str:
    """The warehouse owner (LOGIN CREATEROLE, not a superuser) and ``dbname`` owned by it.

    Returns "created", "kept" or "recreated": with ``replace_foreign`` when the database existed
    under another owner (an embedded stack from before the owner existed), with ``fresh`` whenever
    it existed. Either way its demo data is rebuilt from the simulators.
    """
    from lms_connectors.warehouse.deploy import scram_verifier

    verifier = sql.Literal(scram_verifier(cluster.secrets[OWNER]))
    with cluster.connect(autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone():
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(OWNER), verifier))
        else:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(OWNER), verifier))
        row = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if row and row[0] == OWNER and not fresh:
            return "kept"
        if row and row[0] != OWNER and not replace_foreign:
            raise RuntimeError(f"database {dbname} exists and belongs to {row[0]}, not {OWNER}")
        if row:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(OWNER)))
        return "recreated" if row else "created"


def metadata_database(
    cluster: Cluster, dbname: str, login: str = AIRFLOW_LOGIN, password: str | None = None, *, fresh: bool = False
) -> str:
    """Airflow's metadata database ``dbname``, owned by ``login`` (LOGIN only; ``password``: the
    cluster's secret of that login by default; ``fresh``: an existing one is dropped first). Returns
    "created" or "kept"; Airflow's own ``db migrate`` (or ``initdb``) fills it."""
    from lms_connectors.warehouse.deploy import scram_verifier

    verifier = sql.Literal(scram_verifier(password or cluster.secrets[login]))
    with cluster.connect(autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
        conn.execute(
            sql.SQL(
                ("ALTER" if exists else "CREATE") + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
            ).format(sql.Identifier(login), verifier)
        )
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        elif conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            return "kept"
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(login)))
        return "created"


def metadata_url(socket_dir: str, dbname: str, login: str, password: str) -> str:
    """Airflow's ``[database] sql_alchemy_conn`` for ``dbname`` on the cluster's Unix socket."""
    from urllib.parse import quote

    return f"postgresql+psycopg://{login}:{quote(password, safe='')}@/{dbname}?host={quote(socket_dir, safe='')}"


def deploy(cluster: Cluster, dbname: str) -> list[str]:
    """The deploy step on ``dbname`` as its owner: migrations, then the runtime logins."""
    from lms_connectors.warehouse.deploy import deploy as deploy_warehouse

    with cluster.connect(OWNER, dbname) as conn:
        return deploy_warehouse(
            conn, {login: cluster.secrets[login] for login in (SYNC_LOGIN, HEALTH_LOGIN, XAPI_LOGIN)}
        )


def bin_dir() -> Path:
    """The folder of the wheel's Postgres programs (psql, pg_dump, ...), found without importing pgserver
    (its import starts a platformdirs lookup that warns on machines without XDG_RUNTIME_DIR)."""
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver wheel is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def start(data_dir: Path) -> str:
    """Start (or reuse) the server in ``data_dir``; return its socket directory."""
    import logging
    import warnings

    # platformdirs (under pgserver) warns when XDG_RUNTIME_DIR is unset, as on CI.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    # pgserver logs from an atexit hook, after test runners closed their streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # When run as root, pgserver runs postgres as its own user, which must reach the folder.
    with contextlib.suppress(PermissionError):
        data_dir.parent.chmod(0o755)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    if pid(data_dir) is None:
        # pgserver keeps one handle per folder and process, and starts its server only when it makes
        # the handle: a server stopped since (a crash test's immediate stop) is started here again.
        server.ensure_postgres_running()
    return str(data_dir)


def pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    try:
        value = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        os.kill(value, 0)
    except ProcessLookupError:
        return None
    return value


# Postgres' shutdown modes, by the signal its postmaster takes: "fast" rolls back every session and
# checkpoints; "immediate" stops at once, as a crash does (the next start runs crash recovery, which
# empties unlogged tables).
SHUTDOWN_SIGNALS = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def stop(data_dir: Path, timeout: float = 30.0, mode: str = "fast") -> bool:
    """Shut the server down (``mode``: "fast" or "immediate"); True if a server was running."""
    value = pid(data_dir)
    if value is None:
        return False
    os.kill(value, SHUTDOWN_SIGNALS[mode])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(value, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(value, signal.SIGKILL)
    return True
