"""The distribution, installed the way a team that already runs Airflow installs it: the wheel and
the locked dependencies in a fresh virtualenv, no checkout on the path, a DAG folder holding only
the documented file and the registry beside it. There, Airflow lists the provider, its Connection
types and plugins, parses every connector DAG, and one `airflow dags test` run syncs the simulator
into the warehouse through a Connection of the provider's own type.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import postgres
from lms_connectors import providers
from lms_connectors.providers.registry import load_registry
from tests.builders import DAY1, PROFILES, ROOT, TEST_KEY, connector_env, last_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
REGISTRY = ROOT / "include" / "connectors.yaml"
# A line of Airflow's console log starts with its timestamp; a traceback's lines do not.
LOG_EVENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def install_block() -> str:
    """The deployment guide's install commands, as a user copies them."""
    text = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    section = text[text.index("## Install into an existing Airflow") :]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory, pg_server) -> dict:
    """The deployment guide's install block run as written, in a copy of the repository (a test writes nothing
    into the checkout): the wheel built, installed with the lock into a fresh virtualenv,
    the documented DAG file and the registry in an Airflow home. Then Airflow's defaults only, but
    its metadata on Postgres (a database of its own), as in production."""
    base = tmp_path_factory.mktemp("dist")
    src, home = base / "src", base / "airflow"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    # A user's shell: nothing of the checkout or of the tests' Airflow settings, but a metadata
    # database on Postgres configured, as an existing Airflow has (a database of its own).
    metadata = "lms_airflow_installed"
    postgres.metadata_database(pg_server, metadata)
    login = postgres.AIRFLOW_LOGIN
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LMS_CONNECTORS", "PYTHONPATH"))}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MAKEFLAGS": "",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.metadata_url(
            pg_server.socket_dir, metadata, login, pg_server.secrets[login]
        ),
    }
    block = run(["bash", "-euo", "pipefail", "-c", install_block()], env, src, timeout=900)
    assert not (src / ".venv").exists(), "make dist installed the development environment"
    expected = {spec.dag_id for spec in load_registry(REGISTRY)}
    assert expected <= set(re.findall(r"lms_connector_\w+", block.stdout)), block.stdout[-2000:]
    venv = src / "airflow-env"
    env |= {"PATH": f"{venv / 'bin'}:{env['PATH']}"}
    return {"env": env, "cwd": base, "home": home, "python": str(venv / "bin" / "python"), "src": src}


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
    # The install block ran `airflow dags reserialize` (what the DAG processor does): the CLI lists
    # what it wrote into the metadata database.
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


def test_a_wrong_secret_under_dags_test_says_so_in_one_line_not_a_wall_of_traceback(
    installed, simulators, make_warehouse
):
    """The provider's refusal is the failure's message; the traceback Airflow logs with it holds the
    task's frames only (the client's own are logged at DEBUG), and no secret."""
    sim, warehouse = simulators["openclassrooms"], make_warehouse()
    requests.post(f"{sim.url}/_sim/reset", timeout=30).raise_for_status()
    env = {**installed["env"], **connector_env(sim, warehouse)}
    key = PROFILES["openclassrooms"].conn_env
    env[key] = json.dumps({**json.loads(env[key]), "password": "wrong-secret"})
    cmd = ["airflow", "dags", "test", "lms_connector_openclassrooms", DAY1.isoformat()]
    done = subprocess.run(cmd, env=env, cwd=installed["cwd"], capture_output=True, text=True, timeout=400)
    said = done.stdout + done.stderr
    assert "wrong-secret" not in said
    lines = said.splitlines()
    failures = [i for i, line in enumerate(lines) if "Task failed with exception" in line]
    assert failures, said[-3000:]
    for start in failures:
        # What Airflow printed with the failure, up to its next log event.
        end = next((j for j in range(start + 1, len(lines)) if LOG_EVENT.match(lines[j])), len(lines))
        shown = lines[start + 1 : end]
        assert any(
            "ProviderAuthError: OpenClassrooms (Connection 'openclassrooms_default') refused the client credentials"
            in line
            for line in shown
        ), "\n".join(shown)
        assert len(shown) <= 50, f"{len(shown)} lines:\n" + "\n".join(shown)
    assert last_run(warehouse)["status"] == "failed"


@pytest.mark.parametrize("dag_id", ["lms_connectors_erase_learners", "lms_connectors_export_learners"])
def test_a_privacy_request_sends_no_lineage_event(installed, make_warehouse, tmp_path, dag_id):
    """Lineage on, as for the sync above: a request's run (its conf holds the learners' emails and
    ids) emits no OpenLineage event, by the DAG's own emission policy, whatever the deployment's
    `selective_enable`; an event would carry the run's conf (OpenLineage's `DagRunInfo`)."""
    warehouse = make_warehouse()
    email, user_id = "lineage.probe@example.com", "lineage-probe-user-4711"
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **installed["env"],
        "AIRFLOW_CONN_LMS_WAREHOUSE": json.dumps(warehouse.airflow_conn()),
        # The request hashes the email under every connector's key: without it the run fails (it
        # did, unseen, while the cleanup task's success made the run's state).
        "AIRFLOW_CONN_LMS_PSEUDONYMISATION_KEY": json.dumps({"conn_type": "generic", "password": TEST_KEY}),
        "AIRFLOW_CONN_LMS_AIRFLOW_METADATA": json.dumps(
            {"conn_type": "generic", "password": installed["env"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]}
        ),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "lms-test",
    }
    conf = {"emails": [email], "user_ids": [user_id], "reason": "DPO-lineage", "dry_run": True}
    run(["airflow", "dags", "test", dag_id, "-c", json.dumps(conf)], env, installed["cwd"], 400)
    # Whatever the transport wrote (without `append`, it writes a file per event beside the path).
    sent = "".join(f.read_text() for f in tmp_path.glob(f"{events_file.name}*"))
    assert email not in sent and user_id not in sent, "a lineage event carries the request's learners"
    assert dag_id not in sent, sent[:2000]


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
