"""The embedded stack: Postgres (pgserver) holding the warehouse and Airflow's metadata, the simulators.

Everything lives under ``.local/`` in the project; no root, Docker or network.
Processes are started once, recorded with their PIDs in ``.local/stack.json``
and stopped by those PIDs. Passwords and the pseudonymisation key are
generated once into ``.local/secrets.json`` (readable by you only).

Logins, as in production: the warehouse belongs to ``lms_owner``, which runs
the deploy step (``migrate``: migrations and runtime logins); the DAG's
Connection ``lms_warehouse`` logs in as ``lms_connector`` (lms_sync), the
health page's ``lms_warehouse_readonly`` as ``lms_health`` (lms_monitor). Airflow
keeps its metadata in the database ``lms_airflow`` of the same server, owned
by the login ``lms_airflow``, which may do nothing else.

    python -m devstack.stack up|down|status|env|migrate

``env`` prints the Airflow configuration as ``export`` lines (the Connections are in
Airflow's metadata database, written by ``make demo`` or ``make airflow``):
``eval "$(python -m devstack.stack env)"`` points the ``airflow``
CLI of this shell at the embedded stack.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from devstack import postgres
from lms_connectors.rules.paths import PROJECT_ROOT

LOCAL = Path(os.environ.get("LMS_LOCAL_DIR", PROJECT_ROOT / ".local"))
STATE_FILE = LOCAL / "stack.json"
SECRETS_FILE = LOCAL / "secrets.json"
PG_DIR = LOCAL / "pg" / "data"
AIRFLOW_HOME = LOCAL / "airflow"
WAREHOUSE_DB = "lms_warehouse"
METADATA_DB = "lms_airflow"
# Where a stack of an earlier version kept Airflow's metadata.
OLD_SQLITE_METADATA = AIRFLOW_HOME / "airflow.db"
SIM_DAYS = 30
# One company's 10,000 learners (seed 7, the LMS accounts), each provider with a catalogue and a
# share of them of its own: courses, catalogue seed, activity records per learner. Overlapping, not
# identical, as a company's providers are (the demo's figures differ, some learners use two).
DEMO_WORLDS = {
    "openclassrooms": ("1000", "7", "5"),
    "linkedin_learning": ("700", "8", "3"),
    "skillsoft_percipio": ("450", "9", "1.8"),
}


def demo_world() -> str:
    """What the simulators serve (``DEMO_WORLDS``), as the stack records it."""
    return hashlib.sha256(json.dumps(DEMO_WORLDS, sort_keys=True).encode()).hexdigest()[:12]


# Third-party warnings a user of the embedded stack would otherwise see in `make demo` and in every
# task log, none about this project's code (docs/OPERATORS.md, Troubleshooting): Airflow 3.3.2 imports FastAPI's
# test client, and its file discovery uses a pathspec API that pathspec deprecated; after a DAG file
# changes, a run whose DAG has several serialized versions makes SQLAlchemy warn when it loads one.
KNOWN_WARNINGS = (
    "ignore:Using `httpx` with `starlette.testclient` is deprecated",
    "ignore:GitWildMatchPattern ('gitwildmatch') is deprecated",
    "ignore:Multiple rows returned with uselist=False",
    # The standard provider's sensors module still imports a moved helper (every DAG parse, every demo).
    "ignore:The `airflow.utils.operator_helpers.determine_kwargs` attribute is deprecated",
)


def quiet_known_warnings() -> None:
    import warnings

    for spec in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(spec.split(":", 1)[1]))


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int | None) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def load_state() -> dict[str, Any]:
    try:
        return json.loads(STATE_FILE.read_text())
    except FileNotFoundError:
        return {}


def save_state(state: dict[str, Any]) -> None:
    # It holds the simulators' client secrets: readable by its owner only.
    LOCAL.mkdir(parents=True, exist_ok=True)
    fd = os.open(STATE_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(state, indent=2))
    make_private(STATE_FILE)


def make_private(*paths: Path) -> None:
    """Files holding secrets: mode 0600 (whatever wrote them first)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.chmod(0o600)


def stop_group(pid: int, timeout: float = 45.0) -> None:
    """SIGINT (a clean stop for airflow standalone), then TERM and KILL to its whole process group.

    The process was started as the leader of a new session, so its group id is
    its PID: children it leaves behind are reached by that PID too.
    """
    stop_groups([pid], timeout)


def stop_groups(pids: list[int], timeout: float = 45.0) -> None:
    """:func:`stop_group` for several groups at once: each is told to stop, then all are waited
    for (``timeout`` at most), then TERM and KILL go to the groups still alive, 2 s apart at
    most. One group at a time, each waited for in turn and then given two fixed 2 s sleeps, the
    cluster's test spent 12 s in its teardown (4.4 s together)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    _wait(lambda: not any(alive(pid) for pid in pids), timeout)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = [pid for pid in pids if group_alive(pid)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        _wait(lambda left=left: not any(group_alive(pid) for pid in left), 2.0)


def _wait(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)


def _sim_ok(sim: dict[str, Any] | None) -> bool:
    if not sim or not alive(sim.get("pid")):
        return False
    with contextlib.suppress(requests.RequestException):
        return requests.get(f"{sim['url']}/_sim/health", timeout=2).ok
    return False


def simulators(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The running simulators, by connector id (each connector of the registry has its own)."""
    return state.get("simulators") or {}


def load_secrets() -> dict[str, str]:
    """The stack's passwords, pseudonymisation key and Fernet key, generated on first use (file mode
    0600); a secret a newer version needs is added to an older file."""
    import fcntl

    LOCAL.mkdir(parents=True, exist_ok=True)
    # Processes of one stack start together (make demo's parent and child): one writes, all read it.
    with (LOCAL / "secrets.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            values = json.loads(SECRETS_FILE.read_text())
        except FileNotFoundError:
            values = {}
        missing = {k: v for k, v in postgres.new_secrets().items() if k not in values}
        if missing:
            values |= missing
            fd = os.open(SECRETS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(values, f, indent=2)
        return values


def cluster(state: dict[str, Any]) -> postgres.Cluster:
    return postgres.Cluster(state["postgres"]["socket_dir"], load_secrets())


def running_at(local: Path) -> tuple[dict[str, Any], postgres.Cluster]:
    """The state and the Postgres cluster of the stack under ``local``: a stack another process
    started with its own LMS_LOCAL_DIR (the benchmarks', the end-to-end tests')."""
    state = json.loads((local / STATE_FILE.name).read_text())
    secrets = json.loads((local / SECRETS_FILE.name).read_text())
    return state, postgres.Cluster(state["postgres"]["socket_dir"], secrets)


def up(today: dt.date | None = None) -> dict[str, Any]:
    """Start what is not running; return the stack description.

    Every connector of the registry gets a simulator of its provider's API
    serving a month of activity ending yesterday: the same learners for all,
    each provider its own catalogue and share of them (``DEMO_WORLDS``).
    """
    from lms_connectors.providers.registry import load_registry
    from simulator import launch

    LOCAL.mkdir(parents=True, exist_ok=True)
    state = load_state()
    old = state.pop("simulator", None)  # from a stack started before there were several connectors
    if old and alive(old.get("pid")):
        os.kill(old["pid"], signal.SIGTERM)
    socket_dir = postgres.start(PG_DIR)
    state["postgres"] = {"pid": postgres.pid(PG_DIR), "socket_dir": socket_dir, "dbname": WAREHOUSE_DB}
    pg = cluster(state)
    postgres.secure(PG_DIR, pg)
    # Simulators of another world (an earlier DEMO_WORLDS) and the warehouse loaded from them go: the
    # demo's first run would otherwise find most courses gone and wait a day for an approval.
    world = demo_world()
    new_world = state.get("world") != world
    if new_world:
        stop_simulators(simulators(state))
        state.pop("simulators", None)
    if postgres.ensure_database(pg, WAREHOUSE_DB, replace_foreign=True, fresh=new_world) == "recreated":
        print(
            f"  the embedded {WAREHOUSE_DB} was recreated (demo data only): it held another simulated world's data "
            "or predated its owner login",
            flush=True,
        )
    state["world"] = world
    if postgres.metadata_database(pg, METADATA_DB) == "created" and OLD_SQLITE_METADATA.exists():
        # Airflow's metadata moved to Postgres: the old file's runs and Connections are demo data, which
        # the next `make demo` or `make airflow` writes again.
        OLD_SQLITE_METADATA.unlink()
        print(
            f"  Airflow's metadata now lives in Postgres ({METADATA_DB}): the old SQLite file was removed", flush=True
        )
    sims = simulators(state)
    today = today or dt.date.today()
    start = today - dt.timedelta(days=SIM_DAYS)
    for spec in load_registry():
        if _sim_ok(sims.get(spec.id)):
            continue
        log = (LOCAL / f"simulator-{spec.id}.log").open("ab")
        courses, catalogue, activity = DEMO_WORLDS.get(spec.provider, DEMO_WORLDS["openclassrooms"])
        args = ["--provider", spec.provider, "--seed", "7", "--learners", "10000", "--courses", courses]
        args += ["--catalogue-seed", catalogue, "--activity-per-learner", activity]
        args += ["--start-date", start.isoformat(), "--days", str(SIM_DAYS)]
        sim = launch.start(args, log)
        sims[spec.id] = {
            "pid": sim.process.pid,
            "provider": spec.provider,
            "url": sim.url,
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "extras": sim.extras,
            "start_date": start.isoformat(),
            "days": SIM_DAYS,
        }
    state["simulators"] = sims
    state["xapi"] = start_xapi(state, pg)
    save_state(state)
    return state


def start_xapi(state: dict[str, Any], pg: postgres.Cluster) -> dict[str, Any]:
    """The xAPI endpoint providers push statements to (``python -m lms_connectors.xapi serve``), as
    login lms_xapi on the warehouse, started unless it already answers; its pid and URL. It connects
    when a request comes: before the deploy step made its login, it answers 503."""
    from devstack import xapi

    running = state.get("xapi") or {}
    if alive(running.get("pid")) and xapi.answers(f"{running.get('url')}/about"):
        return running
    dsn = pg.conninfo(postgres.XAPI_LOGIN, WAREHOUSE_DB)
    proc, url = xapi.start(dsn, pg.secrets["pseudonymisation_key"], (LOCAL / "xapi.log").open("ab"))
    return {"pid": proc.pid, "url": url}


def stop_simulators(sims: dict[str, dict[str, Any]]) -> dict[int, str]:
    """Stop the running simulators of ``sims`` (connector id -> its record): the connector id of each
    stopped, by pid. All told to stop first, then waited for (10 s at most): one at a time, a
    tenants' registry took minutes."""
    stopped = {}
    for connector_id, sim in sims.items():
        if alive(sim_pid := sim.get("pid")):
            os.kill(sim_pid, signal.SIGTERM)
            stopped[sim_pid] = connector_id
    _wait(lambda: not any(alive(pid) for pid in stopped), 10)
    return stopped


def down() -> list[str]:
    from devstack import cluster

    state = load_state()
    stopped = cluster.stop(state)
    airflow_pid = (state.get("airflow") or {}).get("pid")
    if alive(airflow_pid) or group_alive(airflow_pid):
        stop_group(airflow_pid)
        stopped.append(f"airflow standalone (pid {airflow_pid}) and its children")
    xapi_pid = (state.pop("xapi", None) or {}).get("pid")
    if alive(xapi_pid):
        stop_group(xapi_pid)
        stopped.append(f"xapi endpoint (pid {xapi_pid})")
    sims = stop_simulators({**simulators(state), "": state.get("simulator") or {}})
    stopped += [f"simulator {connector_id} (pid {pid})".replace("  ", " ") for pid, connector_id in sims.items()]
    pg_pid = postgres.pid(PG_DIR)
    if postgres.stop(PG_DIR):
        stopped.append(f"postgres (pid {pg_pid})")
    state.pop("simulator", None)
    state.pop("simulators", None)
    state.pop("airflow", None)
    if STATE_FILE.exists():
        save_state(state)
    return stopped


def deploy(state: dict[str, Any]) -> list[str]:
    """The deploy step as the warehouse owner: pending migrations, the runtime logins."""
    return postgres.deploy(cluster(state), WAREHOUSE_DB)


def analyst_login(state: dict[str, Any]) -> str:
    """``export`` lines for an analyst's shell: a DSN of the analyst login (a member of lms_analyst,
    which reads the stats schema only) with a new password, and psql on the PATH.

    The password is not stored: each call resets it, so an old DSN stops working.
    """
    import secrets

    from psycopg.conninfo import make_conninfo

    from lms_connectors.warehouse.deploy import ensure_login

    password = secrets.token_urlsafe(24)
    with cluster(state).connect(postgres.OWNER, WAREHOUSE_DB) as conn:
        ensure_login(conn, postgres.ANALYST_LOGIN, postgres.ANALYST_ROLE, password)
    dsn = make_conninfo(
        host=state["postgres"]["socket_dir"], dbname=WAREHOUSE_DB, user=postgres.ANALYST_LOGIN, password=password
    )
    return "\n".join(
        [
            f"# {postgres.ANALYST_LOGIN}: a member of {postgres.ANALYST_ROLE} (reads the stats schema, nothing else);"
            " a new password each time this runs",
            f"export LMS_ANALYST_DSN='{dsn}'",
            path_export(postgres.bin_dir()),
        ]
    )


def path_export(folder: Path | str) -> str:
    """The ``export`` line that puts ``folder`` first on a shell's PATH and keeps the rest: the folder
    quoted as one word, ``$PATH`` left for the shell to expand (in single quotes it would replace it)."""
    return f'export PATH={shlex.quote(str(folder))}:"$PATH"'


def connections(
    state: dict[str, Any], secrets: dict[str, str] | None = None, registry: Path | None = None
) -> dict[str, dict[str, Any]]:
    """The stack's Connections (JSON form) by id: the warehouse's two logins, the pseudonymisation key
    and each connector's provider, of the provider's own Connection type (``registry``: the
    connectors to give, the production registry by default)."""
    from lms_connectors import providers
    from lms_connectors.privacy.retention import METADATA_CONN_ID, METADATA_ENV
    from lms_connectors.providers.registry import load_registry

    pg = state["postgres"]
    db = postgres.Cluster(pg["socket_dir"], secrets if secrets is not None else load_secrets())
    conns = {
        # The DAG's tasks: the sync login, never the owner or the superuser.
        "lms_warehouse": db.airflow_conn(postgres.SYNC_LOGIN, pg["dbname"]),
        # The health page: a login that may only read.
        "lms_warehouse_readonly": db.airflow_conn(postgres.HEALTH_LOGIN, pg["dbname"]),
        "lms_pseudonymisation_key": {"conn_type": "generic", "password": db.secrets["pseudonymisation_key"]},
        # Retention cleans Airflow's own tables through it (a task may not reach them otherwise).
        METADATA_CONN_ID: {
            "conn_type": "generic",
            "password": os.environ.get(METADATA_ENV) or airflow_env(state, db.secrets)[METADATA_ENV],
        },
    }
    for spec in load_registry(registry) if registry else load_registry():
        sim = simulators(state)[spec.id]
        conns[spec.provider_conn_id] = providers.get(spec.provider).connection(
            sim["url"], sim["client_id"], sim["client_secret"], **sim["extras"]
        )
    return conns


def connection_env(conns: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Connections as ``AIRFLOW_CONN_*`` variables: for a run with no metadata database to keep them
    (the benchmark's); the stack's Airflow keeps them in its database (devstack/connections.py)."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()}


# Seconds between two parses of the DAG file by Airflow's DAG processor. The DAG file changes only
# when the registry does: Airflow's 30 s re-parse of every connector took the CPU that tenants' runs
# need (`make bench-airflow` compares the two). A changed file is parsed at once: touch it after
# editing the registry. A value in the environment wins (bench.airflow --parse-interval).
PARSE_INTERVAL = "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"
PARSE_SECONDS = "300"


def metadata_url(state: dict[str, Any], secrets: dict[str, str]) -> str:
    """Airflow's metadata database of the stack, as its own login."""
    login = postgres.AIRFLOW_LOGIN
    return postgres.metadata_url(state["postgres"]["socket_dir"], METADATA_DB, login, secrets[login])


def airflow_env(state: dict[str, Any], secrets: dict[str, str] | None = None) -> dict[str, str]:
    """Airflow configuration for the embedded stack (``secrets``: the stack's own by default). The
    Connections are not in it: the stack keeps them in the metadata database (``connections``)."""
    secrets = secrets if secrets is not None else load_secrets()
    return {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Connections and Variables are stored encrypted in the metadata database.
        "AIRFLOW__CORE__FERNET_KEY": secrets["fernet_key"],
        # The Test button of Admin > Connections (Airflow disables it by default).
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(state, secrets),
        "AIRFLOW__CORE__PARALLELISM": "4",
        PARSE_INTERVAL: os.environ.get(PARSE_INTERVAL, PARSE_SECONDS),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]),
        # Every process started with this environment (a shell after `make env`, the task processes)
        # stays free of the known third-party warnings.
        "PYTHONWARNINGS": ",".join(KNOWN_WARNINGS),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m devstack.stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", choices=["up", "down", "status", "env", "migrate", "analyst-login"])
    args = p.parse_args(argv)
    if args.command == "up":
        state = up()
        print(f"postgres  pid {state['postgres']['pid']}  socket {state['postgres']['socket_dir']}")
        for connector_id, sim in simulators(state).items():
            print(f"simulator pid {sim['pid']}  {sim['url']}  ({connector_id}: {sim['provider']})")
    elif args.command == "down":
        stopped = down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    elif args.command == "status":
        state = load_state()
        pg_pid = postgres.pid(PG_DIR)
        print(f"postgres:  {f'running, pid {pg_pid}' if pg_pid else 'stopped'}")
        for connector_id, sim in simulators(state).items() or {"": None}.items():
            shown = f"running, {sim['url']}" if _sim_ok(sim) else "stopped"
            print(f"simulator {connector_id}: {shown}")
    elif args.command == "env":
        state = up()
        for key, value in airflow_env(state).items():
            print(f"export {key}={shlex.quote(value)}")
        # For the admin commands run outside Airflow (python -m lms_connectors.xapi credentials).
        dsn = cluster(state).conninfo(postgres.SYNC_LOGIN, WAREHOUSE_DB)
        print(f"export LMS_WAREHOUSE_DSN={shlex.quote(dsn)}")
        # Airflow's own CLI, from the virtualenv of this Python.
        print(path_export(Path(sys.executable).parent))
    elif args.command == "migrate":
        for line in deploy(up()) or ["nothing to do: the warehouse is current"]:
            print(line)
    elif args.command == "analyst-login":
        print(analyst_login(up()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
