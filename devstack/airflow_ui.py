"""``make airflow``: the embedded stack plus ``airflow standalone``, ready to open in a browser.

Starts (or reuses) the warehouse Postgres and the simulator, prepares the
Airflow metadata, the warehouse and the connector's Variable as ``make demo``
does, then runs ``airflow standalone`` (API server and UI, scheduler, DAG
processor, triggerer) in the background with a parallelism that fits two
cores. The Connections are in the metadata database, encrypted with the
stack's Fernet key (``.local/secrets.json``): an admin edits them in Admin >
Connections, with the provider's own form and its Test button, and the next
run uses the edit (devstack/connections.py). The PID is recorded in
``.local/stack.json`` and ``make stop`` stops it with the rest.

    python -m devstack.airflow_ui [--port 8080] [--timeout 180]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from devstack import stack
from lms_connectors.providers.registry import load_registry

ADMIN_USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
PRELOADING_EXECUTOR = "lms_connectors.orchestration.executors.PreloadingLocalExecutor"


def standalone_env(state: dict[str, Any], port: int) -> dict[str, str]:
    return {
        **os.environ,
        **stack.airflow_env(state),
        "AIRFLOW__API__PORT": str(port),
        # This machine only: the UI, its admin password and the API are not offered to the network.
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        # Two cores: one API worker, one parsing process, four task slots.
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        # Task processes fork from a parent that already imported pandas, great_expectations and the
        # connector (lms_connectors/orchestration/executors.py): seconds off every task start. LMS_AIRFLOW_EXECUTOR
        # (e.g. LocalExecutor) is for comparing, as `make bench-airflow` does.
        "AIRFLOW__CORE__EXECUTOR": os.environ.get("LMS_AIRFLOW_EXECUTOR", PRELOADING_EXECUTOR),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "LMS_DEMO_STATE": json.dumps(state),
    }


def password(home: os.PathLike[str] | str) -> str | None:
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        return json.loads((Path(home) / PASSWORDS_FILE).read_text()).get(ADMIN_USER)
    return None


def healthy(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        r = requests.get(f"{url}/api/v2/monitor/health", timeout=3)
        return r.ok and r.json().get("scheduler", {}).get("status") == "healthy"
    return False


def start(port: int = 8080, timeout: float = 180.0) -> dict[str, Any]:
    """Start the stack and Airflow if not running; wait until the API and the scheduler are healthy.

    Two ``make airflow`` at once take turns: the second waits for the first to
    record its process, then waits for that one instead of starting another.
    """
    stack.LOCAL.mkdir(parents=True, exist_ok=True)
    with (stack.LOCAL / "airflow-start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _start(port, timeout)


def _start(port: int, timeout: float) -> dict[str, Any]:
    state = stack.up()
    url = f"http://127.0.0.1:{port}"
    running = state.get("airflow") or {}
    if stack.alive(running.get("pid")):
        # A second scheduler on the same metadata database would run every task twice.
        wait_healthy(running["url"], lambda: stack.alive(running["pid"]), timeout, running["log"])
        return state
    env = standalone_env(state, port)
    subprocess.run([sys.executable, "-m", "devstack.demo", "--prepare"], env=env, check=True)
    log = (stack.AIRFLOW_HOME / "standalone.log").open("ab")
    # airflow standalone stops its children cleanly on SIGINT only, and a background
    # process inherits SIGINT as ignored: restore the default handler, then exec.
    code = "import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp('airflow', ['airflow', 'standalone'])"
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    state["airflow"] = {"pid": proc.pid, "url": url, "port": port, "log": str(stack.AIRFLOW_HOME / "standalone.log")}
    stack.save_state(state)
    wait_healthy(url, lambda: proc.poll() is None, timeout, state["airflow"]["log"])
    # airflow standalone writes its admin password and airflow.cfg (JWT and API secrets) readable by all.
    stack.make_private(stack.AIRFLOW_HOME / PASSWORDS_FILE, stack.AIRFLOW_HOME / "airflow.cfg")
    return state


def wait_healthy(url: str, running: Callable[[], bool], timeout: float, log: str, poll_seconds: float = 2.0) -> None:
    """Return once the API and the scheduler at ``url`` are healthy; fail fast if the process died."""
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if not running():
            raise RuntimeError(f"airflow standalone is no longer running; see {log}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"Airflow did not become healthy within {timeout:.0f} s; see {log}")
        time.sleep(poll_seconds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m devstack.airflow_ui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=int(os.environ.get("LMS_AIRFLOW_PORT", "8080")))
    p.add_argument("--timeout", type=float, default=180.0)
    args = p.parse_args(argv)
    t0 = time.monotonic()
    print("starting the embedded stack and airflow standalone (about a minute) ...", flush=True)
    state = start(args.port, args.timeout)
    af = state["airflow"]
    print(f"\nAirflow is up in {time.monotonic() - t0:.0f} s: {af['url']}  (pid {af['pid']}, log {af['log']})")
    print(f"  login:       {ADMIN_USER} / {password(stack.AIRFLOW_HOME) or '(see ' + PASSWORDS_FILE + ')'}")
    from lms_connectors.orchestration.privacy_dags import ERASE_DAG_ID, EXPORT_DAG_ID, RETENTION_DAG_ID, ROTATE_DAG_ID

    dags = [d for spec in load_registry() for d in (spec.dag_id, spec.admin_dag_id)]
    print(f"  DAGs:        {', '.join(dags)} (paused)")
    print(
        "  dashboards:  lms_dashboards_refresh (paused: unpause it to refresh stats.mv_daily_summary after each load)"
    )
    print(f"  by hand:     {', '.join((ERASE_DAG_ID, EXPORT_DAG_ID, ROTATE_DAG_ID))} (privacy requests)")
    print(f"  running:     {RETENTION_DAG_ID}, lms_connectors_deadlines (never paused by default)")
    print(f"  health page: {af['url']}/plugin/lms-connector-health  (Browse > LMS connector health)")
    if state.get("xapi"):
        print(f"  xAPI:        {state['xapi']['url']}/statements  (providers push statements: docs/XAPI.md)")
    print("  stop:        make stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
