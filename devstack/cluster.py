"""``make cluster``: the CeleryExecutor for real, on this machine, without containers.

The embedded stack (warehouse Postgres, the simulators) plus:

- Redis, Debian's ``redis-server`` (``make cluster`` installs it), on a free
  loopback port, no persistence: the Celery broker;
- Airflow's metadata in a database ``airflow_meta`` of the same embedded
  Postgres, owned by a login of its own that is not a superuser (Celery's
  results go there too);
- ``airflow api-server``, ``scheduler``, ``dag-processor`` and two
  ``airflow celery worker`` processes (``worker1``, ``worker2``, two task
  slots each), whose tasks report the worker's name as their hostname.

Workers import the heavy modules once (``lms_connectors.orchestration.celery_config``).
The processes are recorded in ``.local/stack.json`` under ``cluster`` and
``make stop`` stops them with the rest. docker-compose.yaml stays the
production recipe; this runs the same executor where Docker cannot.

    python -m devstack.cluster [--workers 2] [--port 8090] [--timeout 300]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devstack import postgres, stack
from devstack.airflow_ui import healthy

CLUSTER_DIR = stack.LOCAL / "cluster"
AIRFLOW_HOME = CLUSTER_DIR / "airflow"
SECRETS_FILE = CLUSTER_DIR / "secrets.json"
META_DB = "airflow_meta"
META_LOGIN = "airflow_meta"
REDIS = "redis-server"


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the cluster: each worker's tasks carry its name.

    Both workers share this machine (and its log folder, so the UI reads their logs from disk).
    """
    return os.environ.get("LMS_WORKER_NAME") or socket.getfqdn()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secrets() -> dict[str, str]:
    with contextlib.suppress(FileNotFoundError):
        return json.loads(SECRETS_FILE.read_text())
    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    values = {
        META_LOGIN: secrets.token_urlsafe(24),
        "jwt_secret": secrets.token_urlsafe(64),
        "api_secret_key": secrets.token_urlsafe(32),
        "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    fd = os.open(SECRETS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def cluster_env(state: dict[str, Any], port: int, redis_port: int) -> dict[str, str]:
    s = _secrets()
    meta = postgres.metadata_url(state["postgres"]["socket_dir"], META_DB, META_LOGIN, s[META_LOGIN])
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
        **stack.airflow_env(state),
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta,
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "lms_connectors.orchestration.celery_config.CELERY_CONFIG",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devstack.cluster.worker_hostname",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": s["api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": s["jwt_secret"],
        "AIRFLOW__CORE__FERNET_KEY": s["fernet_key"],
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "LMS_DEMO_STATE": json.dumps(state),
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }


def _spawn(name: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    log = CLUSTER_DIR / f"{name}.log"
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return {"pid": proc.pid, "log": str(log)}


def running(state: dict[str, Any]) -> bool:
    procs = (state.get("cluster") or {}).get("processes") or {}
    return bool(procs) and all(stack.alive(p["pid"]) for p in procs.values())


def start(workers: int = 2, port: int = 8090, timeout: float = 300.0) -> dict[str, Any]:
    """Start the stack, Redis and the Airflow cluster if not running; wait until workers answer."""
    if shutil.which(REDIS) is None:
        raise RuntimeError(f"{REDIS} is missing: `make cluster` installs Debian's redis-server (make redis)")
    state = stack.up()
    if (state.get("airflow") or {}).get("pid") and stack.alive(state["airflow"]["pid"]):
        raise RuntimeError("`make airflow` is running on this stack: `make stop` first (one scheduler per stack)")
    if running(state):
        return state
    stop(state)
    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    redis_port = _free_port()
    env = cluster_env(state, port, redis_port)
    postgres.metadata_database(stack.cluster(state), META_DB, META_LOGIN, _secrets()[META_LOGIN])
    procs: dict[str, Any] = {}
    procs["redis"] = _spawn(
        "redis",
        [
            REDIS,
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(CLUSTER_DIR),
        ],
        env,
    )
    # Recorded before anything can fail: `make stop` finds every process started so far.
    state["cluster"] = {"url": f"http://127.0.0.1:{port}", "redis_port": redis_port, "processes": procs}
    stack.save_state(state)
    # Metadata migration, the warehouse deploy step, the LMS seed and Variables, as `make airflow` does.
    subprocess.run([sys.executable, "-m", "devstack.demo", "--prepare"], env=env, check=True)
    airflow = [os.path.join(os.path.dirname(sys.executable), "airflow")]
    procs["api-server"] = _spawn(
        "api-server", [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)], env
    )
    procs["scheduler"] = _spawn("scheduler", [*airflow, "scheduler"], env)
    procs["dag-processor"] = _spawn("dag-processor", [*airflow, "dag-processor"], env)
    for i in range(1, workers + 1):
        name = f"worker{i}"
        worker_env = env | {
            "LMS_WORKER_NAME": name,
            # Each worker serves its task logs on a port of its own (one machine).
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        }
        procs[name] = _spawn(name, [*airflow, "celery", "worker", "--celery-hostname", f"{name}@%h"], worker_env)
    stack.save_state(state)
    wait_ready(state, workers, timeout)
    return state


def wait_ready(state: dict[str, Any], workers: int, timeout: float) -> None:
    """The API and the scheduler healthy (as `make airflow` waits for them), and every worker's
    Celery consumer up."""
    url = state["cluster"]["url"]
    deadline = time.monotonic() + timeout
    procs = state["cluster"]["processes"]
    while True:
        dead = [name for name, p in procs.items() if not stack.alive(p["pid"])]
        if dead:
            logs = ", ".join(procs[n]["log"] for n in dead)
            raise RuntimeError(f"cluster processes exited: {', '.join(dead)}; see {logs}")
        if healthy(url) and len(_answering(state)) >= workers:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cluster was not ready within {timeout:.0f} s; see the logs in {CLUSTER_DIR}")
        time.sleep(2)


def _answering(state: dict[str, Any]) -> list[str]:
    """The workers whose Celery consumer is up (each logs ``<name>@<host> ready.`` once)."""
    ready = []
    for name, p in state["cluster"]["processes"].items():
        log = Path(p["log"])
        if (
            name.startswith("worker")
            and log.exists()
            and re.search(rf"\b{name}@\S+ ready\.", log.read_text("utf-8", "replace"))
        ):
            ready.append(name)
    return ready


def stop(state: dict[str, Any]) -> list[str]:
    """Stop the cluster's processes (workers first, Redis last), by PID and process group."""
    cluster = state.get("cluster") or {}
    stopped = []
    processes = cluster.get("processes") or {}
    # Workers first (their tasks end while the broker is up), Redis last.
    for stage in (
        [n for n in processes if n.startswith("worker")],
        [n for n in processes if not n.startswith("worker") and n != "redis"],
        [n for n in processes if n == "redis"],
    ):
        live = {
            n: processes[n]["pid"]
            for n in stage
            if stack.alive(processes[n].get("pid")) or stack.group_alive(processes[n].get("pid"))
        }
        stack.stop_groups(list(live.values()), timeout=30)
        stopped += [f"{name} (pid {pid})" for name, pid in live.items()]
    state.pop("cluster", None)
    return stopped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m devstack.cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--port", type=int, default=int(os.environ.get("LMS_CLUSTER_PORT", "8090")))
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--env", action="store_true", help="print export lines for the running cluster's airflow CLI")
    args = p.parse_args(argv)
    if args.env:
        state = stack.load_state()
        if not running(state):
            print("the cluster is not running: make cluster", file=sys.stderr)
            return 1
        c = state["cluster"]
        env = cluster_env(state, int(c["url"].rsplit(":", 1)[1]), c["redis_port"])
        for key in sorted(k for k in env if k.startswith(("AIRFLOW", "LMS_", "PYTHONPATH"))):
            print(f"export {key}={shlex.quote(env[key])}")
        print(stack.path_export(Path(sys.executable).parent))
        return 0
    t0 = time.monotonic()
    print(f"starting Redis, Airflow (metadata on Postgres) and {args.workers} Celery workers (a minute or two) ...")
    state = start(args.workers, args.port, args.timeout)
    c = state["cluster"]
    print(f"\nthe cluster is up in {time.monotonic() - t0:.0f} s: {c['url']}")
    print(f"  login:    admin / {_password() or '(see ' + str(AIRFLOW_HOME) + ')'}")
    print(
        f"  workers:  {', '.join(n for n in c['processes'] if n.startswith('worker'))} (CeleryExecutor, Redis :{c['redis_port']})"
    )
    print(f"  logs:     {CLUSTER_DIR}/*.log")
    print('  CLI:      eval "$(make -s cluster-env)"')
    print("  stop:     make stop")
    return 0


def _password() -> str | None:
    from devstack.airflow_ui import password

    return password(AIRFLOW_HOME)


if __name__ == "__main__":
    sys.exit(main())
