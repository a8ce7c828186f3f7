"""The distribution, installed the way a team that already runs Airflow installs it: the wheel and
the locked dependencies in a fresh virtualenv, no checkout on the path, a DAG folder holding only
the documented file and the registry beside it. There, Airflow lists the provider, its Connection
types and plugins, parses every connector DAG, and one `airflow dags test` run syncs the simulator
into the warehouse through a Connection of the provider's own type.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from lms_connectors import providers
from lms_connectors.providers.registry import load_registry
from tests.builders import DAY1, PROFILES, ROOT, connector_env, last_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
REGISTRY = ROOT / "tests" / "fixtures" / "connectors.yaml"


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A virtualenv with the lock and the wheel only, and an Airflow home whose DAG folder holds the
    documented file (dags/lms_connectors.py) with include/connectors.yaml beside it."""
    base = tmp_path_factory.mktemp("dist")
    uv = str(ROOT / ".venv" / "bin" / "uv")
    run([uv, "build", "--wheel", "-o", str(base / "dist")], dict(os.environ), ROOT)
    wheel = next((base / "dist").glob("lms_connectors-*.whl"))
    venv = base / "venv"
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], dict(os.environ), base)
    install = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    run([*install, "-r", str(ROOT / "requirements.lock"), str(wheel)], dict(os.environ), base, timeout=600)
    home = base / "airflow"
    (home / "dags").mkdir(parents=True)
    shutil.copy(ROOT / "dags" / "lms_connectors.py", home / "dags")
    (home / "include").mkdir()
    shutil.copy(REGISTRY, home / "include" / "connectors.yaml")
    # Nothing of the checkout: no PYTHONPATH, no registry or include override, Airflow's defaults.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LMS_CONNECTORS", "PYTHONPATH"))}
    env |= {
        "PATH": f"{venv / 'bin'}:{env['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }
    run(["airflow", "db", "migrate"], env, base)
    return {"env": env, "cwd": base, "home": home, "python": str(venv / "bin" / "python")}


def test_the_installed_package_comes_from_the_wheel_not_the_checkout(installed):
    out = run([installed["python"], "-c", "import lms_connectors; print(lms_connectors.__file__)"], **_at(installed))
    assert "site-packages" in out.stdout and str(ROOT) not in out.stdout


def test_airflow_lists_the_provider_its_connection_types_and_its_plugins(installed):
    packages = listed(["airflow", "providers", "list", "-o", "json"], installed)
    assert "lms-connectors" in {p["package_name"] for p in packages}
    hooks = listed(["airflow", "providers", "hooks", "-o", "json"], installed)
    types = {h["connection_type"]: h for h in hooks if h.get("package_name") == "lms-connectors"}
    assert set(types) == {providers.get(name).conn_type for name in providers.names()}
    plugins = listed(["airflow", "plugins", "-o", "json"], installed)
    assert {"lms_connector_health", "lms_connector_timetable"} <= {p["name"] for p in plugins}


def test_the_documented_dag_file_alone_gives_every_connector_dag(installed):
    # What the DAG processor does: parse the folder into the metadata database, which the CLI lists.
    run(["airflow", "dags", "reserialize"], **_at(installed))
    dags = listed(["airflow", "dags", "list", "-o", "json"], installed)
    expected = {spec.dag_id for spec in load_registry(REGISTRY)}
    assert expected <= {d["dag_id"] for d in dags}
    errors = listed(["airflow", "dags", "list-import-errors", "-o", "json"], installed)
    assert errors == []


def test_a_dag_test_run_syncs_the_simulator_through_a_connection_of_the_providers_type(
    installed, simulators, make_warehouse, tmp_path
):
    """... and, with OpenLineage's file transport, each sync task reports what it read (the provider's
    API) and wrote (the warehouse tables, with the rows written)."""
    sim, warehouse = simulators["openclassrooms"], make_warehouse()
    requests.post(f"{sim.url}/_sim/reset", timeout=30).raise_for_status()
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **installed["env"],
        **connector_env(sim, warehouse),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "lms-test",
    }
    conn = json.loads(env[PROFILES["openclassrooms"].conn_env])
    assert conn["conn_type"] == "openclassrooms"
    run(["airflow", "dags", "test", "lms_connector_openclassrooms", DAY1.isoformat()], env, installed["cwd"], 400)
    courses = warehouse.scalar("SELECT count(*) FROM lms.courses WHERE connector_id = 'openclassrooms'")
    assert courses > 0
    assert last_run(warehouse)["status"] == "success"

    done = {}
    for line in events_file.read_text().splitlines():
        event = json.loads(line)
        if event.get("eventType") == "COMPLETE":
            done[event["job"]["name"].rsplit(".", 1)[-1]] = event
    api = sim.url.rstrip("/")
    organization = sim.extras["organization_id"]
    database = warehouse.dbname

    def names(event: dict, side: str) -> dict[str, dict]:
        return {f"{d['namespace']} {d['name']}": d for d in event[side]}

    def rows(dataset: dict) -> int:
        return dataset["outputFacets"]["outputStatistics"]["rowCount"]

    # `dags test` runs every task in one process, whose lineage collector keeps what earlier tasks
    # reported (a scheduled task has a process of its own): each event holds at least its own.
    catalogue = done["sync_catalogue"]
    assert f"{api} /organizations/{organization}/courses" in names(catalogue, "inputs")
    tables = names(catalogue, "outputs")
    courses_out = next(d for d in tables.values() if d["name"] == f"{database}.lms.courses")
    assert courses_out["namespace"].startswith("postgres://") and rows(courses_out) == courses
    extract = done["extract_progress"]
    assert f"{api} /organizations/{organization}/learning-activity" in names(extract, "inputs")
    staged = next(d for d in extract["outputs"] if d["name"] == f"{database}.staging.raw_activity")
    assert rows(staged) > 0
    statistics = done["sync_statistics"]
    assert f"{database}.staging.raw_activity" in {d["name"] for d in statistics["inputs"]}
    written = {d["name"]: rows(d) for d in statistics["outputs"]}
    progress = warehouse.scalar("SELECT count(*) FROM stats.course_progress WHERE connector_id = 'openclassrooms'")
    assert written[f"{database}.stats.course_progress"] == progress > 0
    assert written[f"{database}.stats.course_progress_daily"] > 0


# What Airflow does for the Test button: the Connection type's hook, from the provider info.
TEST_BUTTON = """
import importlib, json, sys
from lms_connectors.orchestration.provider_info import get_provider_info
said = {}
for kind in get_provider_info()["connection-types"]:
    module, cls = kind["hook-class-name"].rsplit(".", 1)
    hook = getattr(importlib.import_module(module), cls)
    name = hook.provider.name
    said[name] = [hook(f"{name}_{case}").test_connection() for case in ("good", "bad")]
print(json.dumps(said))
"""


def test_each_connection_types_test_button_says_whether_the_provider_accepts_it(installed, simulators):
    """A token and one small page: yes for the simulator's credentials, no (naming the provider, never
    the secret) for a wrong one; all providers in one process, as the API server runs them."""
    env = dict(installed["env"])
    for name in providers.names():
        sim, provider = simulators[name], providers.get(name)
        requests.post(f"{sim.url}/_sim/reset", timeout=30).raise_for_status()
        fields = provider.connection(sim.url, sim.client_id, sim.client_secret, **sim.extras)
        env[f"AIRFLOW_CONN_{name.upper()}_GOOD"] = json.dumps(fields)
        env[f"AIRFLOW_CONN_{name.upper()}_BAD"] = json.dumps({**fields, "password": "wrong-secret"})
    out = run([installed["python"], "-c", TEST_BUTTON], env, installed["cwd"]).stdout.splitlines()[-1]
    said = json.loads(out)
    assert set(said) == set(providers.names())
    for name, ((good, good_message), (bad, bad_message)) in said.items():
        assert good, good_message
        assert not bad and bad_message.startswith(providers.get(name).label), bad_message
        # Neither the secret nor the id (the API server tests a copy under a random one).
        assert "wrong-secret" not in bad_message and f"{name}_bad" not in bad_message, bad_message


def _at(installed: dict) -> dict:
    return {"env": installed["env"], "cwd": installed["cwd"]}


def listed(cmd: list[str], installed: dict) -> Any:
    """A listing command's JSON (Airflow's log lines may come before it on stdout)."""
    lines = run(cmd, **_at(installed)).stdout.splitlines()
    return json.loads(next(line for line in reversed(lines) if line.startswith(("[", "{"))))
