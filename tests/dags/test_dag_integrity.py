"""Every DAG file imports cleanly, fast, with no I/O at parse time, and follows the house policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from lms_connectors.orchestration.timetable import DayIntervalTimetable
from tests.builders import ROOT


@pytest.fixture(scope="module")
def bag():
    # No metadata database: parsing needs none (the unit lane starts no server).
    from airflow.dag_processing.dagbag import DagBag

    t0 = time.perf_counter()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    return bag, time.perf_counter() - t0


def test_dags_import_without_errors(bag):
    dagbag, _ = bag
    assert dagbag.import_errors == {}
    assert "lms_connector_openclassrooms" in dagbag.dags


def test_parse_takes_under_two_cpu_seconds_and_imports_no_task_library():
    # A fresh interpreter with Airflow itself imported, as in the DAG processor: what is measured is
    # this project's own parse cost. CPU time, not wall time: with the suite's three workers on two
    # cores the wall clock read 2.01 s for a parse of 0.86 s.
    code = (
        "import json, sys, time, runpy, airflow.sdk; before = set(sys.modules); t = time.process_time(); "
        f"runpy.run_path({str(ROOT / 'dags' / 'lms_connectors.py')!r}); "
        "print(json.dumps([time.process_time() - t, sorted({m.split('.')[0] for m in set(sys.modules) - before})]))"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    seconds, imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert seconds < 2.0
    # What the tasks import when they run, never the DAG processor.
    assert not {"pandas", "numpy", "pyarrow", "great_expectations", "psycopg"} & set(imported), imported


# Parses a DAG file in a fresh interpreter where every way out is refused and recorded: a socket
# (the network, a provider), a psycopg connection (libpq opens its sockets in C, unseen by Python's
# socket module), a SQLAlchemy connection (Airflow's metadata database, whatever its driver). Prints
# the DAG ids, then what was attempted.
PARSE_GUARD = """
import json, runpy, socket, sys
import psycopg, sqlalchemy.engine

tried = []

def refuse(what):
    def refused(*args, **kwargs):
        tried.append(what)
        raise AssertionError(what + " at parse time")
    return refused

socket.socket.connect = refuse("socket connect")
psycopg.connect = psycopg.Connection.connect = refuse("psycopg connect")
sqlalchemy.engine.Engine.connect = refuse("metadata database (SQLAlchemy) connect")
names = [k for k, v in runpy.run_path(sys.argv[1]).items() if type(v).__name__ == "DAG"]
print(json.dumps({"dags": names, "tried": tried}))
"""


def _parse_guarded(dag_file: os.PathLike[str]) -> dict[str, list[str]]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}",
        # Reachable-looking, never reached: a warehouse on a non-routable host.
        "AIRFLOW_CONN_LMS_WAREHOUSE": "postgresql://nobody@10.255.255.1:1/none",
    }
    out = subprocess.run(
        [sys.executable, "-c", PARSE_GUARD, str(dag_file)], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_parse_time_touches_no_database_or_network():
    parsed = _parse_guarded(ROOT / "dags" / "lms_connectors.py")
    assert parsed["tried"] == []
    assert "lms_connector_openclassrooms" in parsed["dags"]


@pytest.mark.parametrize(
    "mutant",
    [
        # The metadata database, as a Variable read at parse time would reach it.
        "from airflow.settings import Session\nimport sqlalchemy\nSession().execute(sqlalchemy.text('SELECT 1'))",
        "import psycopg\npsycopg.connect('host=10.255.255.1 connect_timeout=1')",
        "import requests\nrequests.get('http://10.255.255.1:1/', timeout=1)",
    ],
)
def test_the_parse_time_guard_sees_a_dag_file_that_queries(tmp_path, mutant):
    """The guard above can fail: the DAG file with a query added at its end is caught, even where the
    query's own error is swallowed."""
    dag_file = tmp_path / "lms_connectors.py"
    body = "\n".join("    " + line for line in mutant.splitlines())
    dag_file.write_text(
        (ROOT / "dags" / "lms_connectors.py").read_text() + f"\ntry:\n{body}\nexcept BaseException:\n    pass\n"
    )
    assert _parse_guarded(dag_file)["tried"]


MANUAL_PRIVACY_DAGS = (
    "lms_connectors_erase_learners",
    "lms_connectors_export_learners",
    "lms_connectors_find_learner",
    "lms_connectors_rotate_key",
)


def test_policies(bag):
    dagbag, _ = bag
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        assert dag.tags, dag_id
        assert dag.max_active_runs == 1, dag_id
        if dag_id.endswith("_apply_settings") or dag_id in MANUAL_PRIVACY_DAGS:
            assert dag.schedule is None, dag_id
        elif dag_id in ("lms_dashboards_refresh", "lms_connectors_deadlines", "lms_connectors_retention"):
            assert dag.catchup is False, dag_id
        else:
            assert dag.catchup is True, dag_id
            assert isinstance(dag.timetable, DayIntervalTimetable), dag_id
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"
            assert t.execution_timeout is not None, f"{dag_id}.{t.task_id} may run forever"
            # What a task returns is one XCom, not one more per key of a dict (an API call and a row each).
            assert not getattr(t, "multiple_outputs", False), f"{dag_id}.{t.task_id} pushes an XCom per key"


def test_every_run_of_a_connector_dag_has_its_logical_date_at_its_interval_start(bag):
    """Manual, scheduled and backfill runs of one day share one logical date, so they never collide;
    the scheduler (which reads the serialized DAG) sees the same timetable."""
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization

    dagbag, _ = bag
    dag = dagbag.dags["lms_connector_openclassrooms"]
    timetable = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).timetable
    assert type(timetable) is DayIntervalTimetable
    day = pendulum.datetime(2026, 11, 5, tz="UTC")
    manual = timetable.infer_manual_data_interval(run_after=day)
    assert (manual.start, manual.end) == (day, day.add(days=1))
    scheduled = timetable.next_dagrun_info(last_automated_data_interval=manual, restriction=_no_restriction())
    assert scheduled.logical_date == scheduled.data_interval.start == day.add(days=1)
    # The UI's default logical date is "now": that run covers the last complete day.
    now = pendulum.datetime(2026, 11, 5, 16, 30, tz="UTC")
    ui = timetable.infer_manual_data_interval(run_after=now)
    assert (ui.start, ui.end) == (day.subtract(days=1), day)


def test_a_dag_version_written_under_an_earlier_import_path_still_deserializes(bag):
    """Old DAG versions in the metadata DB name the timetable by the path it had then; clearing an
    old run reads them again, so the plugin keeps those paths registered."""
    from airflow.serialization.serialized_objects import DagSerialization

    from lms_connectors.orchestration.timetable import PERSISTED_NAMES

    dagbag, _ = bag
    current = DagSerialization.serialize_dag(dagbag.dags["lms_connector_openclassrooms"])
    assert current["timetable"]["__type"] == "lms_connectors.orchestration.timetable.DayIntervalTimetable"
    for name in PERSISTED_NAMES:
        old = {**current, "timetable": {**current["timetable"], "__type": name}}
        timetable = DagSerialization.deserialize_dag(old).timetable
        assert isinstance(timetable, DayIntervalTimetable)
        assert timetable.summary == DagSerialization.deserialize_dag(current).timetable.summary


def test_run_ids_name_the_day_the_run_covers(bag):
    """Scheduled and backfill runs are named after their day; a manual run adds its trigger time."""
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import DataInterval
    from airflow.utils.types import DagRunType

    dagbag, _ = bag
    dag = dagbag.dags["lms_connector_openclassrooms"]
    timetable = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).timetable
    day = pendulum.datetime(2026, 11, 29, tz="UTC")
    interval = DataInterval(start=day, end=day.add(days=1))
    ids = {
        kind: timetable.generate_run_id(run_type=kind, run_after=day.add(days=1), data_interval=interval)
        for kind in (DagRunType.SCHEDULED, DagRunType.BACKFILL_JOB)
    }
    assert ids == {DagRunType.SCHEDULED: "scheduled__2026-11-29", DagRunType.BACKFILL_JOB: "backfill__2026-11-29"}
    now = pendulum.datetime(2026, 12, 3, 6, 20, 24, tz="UTC")
    manual = timetable.generate_run_id(run_type=DagRunType.MANUAL, run_after=now, data_interval=interval)
    assert manual == "manual__2026-11-29__triggered_2026-12-03T06:20:24+00:00"


def _no_restriction():
    from airflow.timetables.base import TimeRestriction

    return TimeRestriction(earliest=None, latest=None, catchup=True)


def test_task_shape(bag):
    """Four tasks: the catalogue and the activity extract in parallel, then the statistics; every
    step of the README's diagram is timed under its own name by the task that runs it. The tasks are
    the stages the pipeline's lifecycle declares, nothing more."""
    from lms_connectors.pipeline.lifecycle import STAGE_STEPS as TASK_STEPS

    dagbag, _ = bag
    dag = dagbag.dags["lms_connector_openclassrooms"]
    downstream = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert downstream == {
        "config": ["extract_progress", "sync_catalogue", "sync_statistics"],
        "sync_catalogue": ["sync_statistics"],
        "extract_progress": ["sync_statistics"],
        "sync_statistics": [],
    }
    assert set(TASK_STEPS) - {"wait_for_activity"} == set(downstream)
    steps = [s for t in ("sync_catalogue", "extract_progress", "sync_statistics") for s in TASK_STEPS[t]]
    assert steps == [
        "extract_courses",
        "transform_courses",
        "validate_courses",
        "approve_catalogue_change",
        "load_courses",
        "extract_progress",
        "transform_progress",
        "validate_progress",
        "load_progress",
        "heal_learners",
    ]
    # Each task announces what it wrote: the Assets the dashboards DAG waits for.
    assert [a.name for a in dag.get_task("sync_catalogue").outlets] == ["lms_catalogue__openclassrooms"]
    assert [a.name for a in dag.get_task("sync_statistics").outlets] == ["lms_statistics__openclassrooms"]


def test_a_provider_that_publishes_late_waits_for_its_data_in_reschedule_mode(bag):
    """LinkedIn's reports say how fresh they are: the extract waits behind a sensor that gives its
    worker slot back between checks (mode reschedule), bounded by the registry's deadline."""
    dagbag, _ = bag
    dag = dagbag.dags["lms_connector_linkedin_learning"]
    sensor = dag.get_task("wait_for_activity")
    assert sorted(sensor.downstream_task_ids) == ["extract_progress"]
    assert sensor.mode == "reschedule" and sensor.reschedule
    assert "wait_for_activity" not in dagbag.dags["lms_connector_openclassrooms"].task_ids


@pytest.mark.parametrize(
    "dag_id",
    ["lms_connector_openclassrooms", "lms_connector_linkedin_learning_apply_settings", "lms_connectors_deadlines"],
)
def test_a_task_process_builds_its_own_connector_dag_alone(bag, monkeypatch, dag_id):
    """A task's process parses the DAG file to find its task, with Airflow's parsing context naming
    the task's DAG: a connector's DAG is then built alone, the same as the DAG processor's (so a
    task's start does not grow with the registry); for any other DAG, the file builds them all."""
    import runpy

    from airflow.sdk import DAG
    from airflow.sdk.definitions.context import _AIRFLOW_PARSING_CONTEXT_DAG_ID
    from airflow.serialization.serialized_objects import DagSerialization

    dagbag, _ = bag
    path = ROOT / "dags" / "lms_connectors.py"
    monkeypatch.setenv(_AIRFLOW_PARSING_CONTEXT_DAG_ID, dag_id)
    built = {k: v for k, v in runpy.run_path(str(path)).items() if isinstance(v, DAG)}
    in_file = {d for d, dag in dagbag.dags.items() if dag.fileloc == str(path)}
    assert len(in_file) > 3 and dag_id in in_file
    assert set(built) == ({dag_id} if dag_id.startswith("lms_connector_") else in_file)
    # Where the DAG was defined is the DagBag's to set (it loads the file as the DAG processor does).
    serialized = [
        {k: v for k, v in DagSerialization.serialize_dag(d).items() if k not in ("fileloc", "relative_fileloc")}
        for d in (built[dag_id], dagbag.dags[dag_id])
    ]
    assert serialized[0] == serialized[1]


def test_production_registry_builds_dags_with_the_policies():
    from lms_connectors.orchestration.dag_factory import build_all

    dags = build_all(ROOT / "include" / "connectors.yaml")
    connectors = ["linkedin_learning", "openclassrooms", "skillsoft_percipio"]
    assert sorted(dags) == sorted(
        [
            "lms_connectors_deadlines",
            "lms_connectors_retention",
            *MANUAL_PRIVACY_DAGS,
            *(name for c in connectors for name in (f"lms_connector_{c}", f"lms_connector_{c}_apply_settings")),
        ]
    )
    for connector in connectors:
        daily = dags[f"lms_connector_{connector}"]
        assert daily.max_active_runs == 1
        assert daily.catchup is True
        assert all(t.retries >= 2 for t in daily.tasks)
        assert all(t.retry_delay.total_seconds() >= 60 for t in daily.tasks)
        assert set(daily.tags) >= {"lms", connector}
    # Same tasks for every provider (the seam is below the DAG), but the wait of a provider whose
    # data is published late.
    assert {t.task_id for t in dags["lms_connector_linkedin_learning"].tasks} - {"wait_for_activity"} == {
        t.task_id for t in dags["lms_connector_openclassrooms"].tasks
    }


def test_apply_settings_form_offers_every_iso_language(bag):
    dagbag, _ = bag
    params = dagbag.dags["lms_connector_openclassrooms_apply_settings"].params
    languages = params.get_param("languages").schema
    # Offered (the form's choices), not enforced by the schema: a bad code is refused in one line.
    assert {"fr", "en", "es", "de"} <= set(languages["examples"])
    assert len(languages["examples"]) == 184 and "enum" not in languages["items"]
    # "Enabled" is a choice whose default reads "keep", not a switch whose "off" read as "disabled":
    # the UI draws a switch for a first non-null type "boolean", a dropdown for an enum on "string".
    enabled = params.get_param("enabled").schema
    assert next(t for t in enabled["type"] if t != "null") == "string"
    assert enabled["enum"] == [None, True, False] and params["enabled"] is None
    assert enabled["values_display"]["null"].startswith("Keep")
    assert "Disabled" in enabled["values_display"]["false"]
    params.get_param("enabled").resolve(False)
    with pytest.raises(Exception, match="is not one of"):
        params.get_param("enabled").resolve("no")
    # The form previews by default; applying is a deliberate untick. "All languages" is a choice of its own.
    assert params["dry_run"] is True
    assert params["all_languages"] is False


@pytest.mark.parametrize("schedule", ["0 3 * * *", "0 0 * * 1-5", "*/30 * * * *", "0 0 1 * *", "@hourly", "nonsense"])
def test_the_registry_refuses_schedules_whose_runs_are_not_one_utc_day(tmp_path, schedule):
    from lms_connectors.providers.registry import load_registry

    path = tmp_path / "connectors.yaml"
    path.write_text(
        "connectors:\n  - {id: x, provider: openclassrooms, provider_conn_id: p, start_date: '2026-11-01', "
        f"schedule: '{schedule}'}}\n"
    )
    with pytest.raises(
        ValueError, match=r"connector 'x' \(entry 1\): schedule .* does not run once a day at 00:00 UTC"
    ):
        load_registry(path)
    path.write_text(path.read_text().replace(schedule, "@daily"))
    assert load_registry(path)[0].schedule == "@daily"


def test_retention_and_its_watchdog_run_from_their_creation(bag):
    """Every other DAG starts paused (an admin decides when a connector syncs); a paused retention
    would keep learner data forever, and a paused watchdog alerts nobody."""
    dagbag, _ = bag
    for dag_id in ("lms_connectors_retention", "lms_connectors_deadlines"):
        assert dagbag.dags[dag_id].is_paused_upon_creation is False, dag_id
    assert dagbag.dags["lms_connector_openclassrooms"].is_paused_upon_creation is not False


BROKEN_REGISTRY = """
connectors:
  - {id: good, provider: openclassrooms, provider_conn_id: p, start_date: '2026-11-01'}
  - {id: no_start, provider: openclassrooms, provider_conn_id: p}
  - {id: typo, provider: openclassrooms, provider_conn_id: p, start_date: '2026-11-01', retrys: 5}
  - {id: bad_retries, provider: linkedin_learning, provider_conn_id: p, start_date: '2026-11-01', retries: 'two'}
  - just a string
  - {id: good, provider: openclassrooms, provider_conn_id: p, start_date: '2026-11-02'}
"""


def test_a_registry_entry_with_problems_names_them_and_takes_no_other_connector_down(tmp_path):
    """One line per problem, naming the entry and the key; the sound entry's DAGs are built, and one
    DAG says what was left out (before, a missing start_date removed every DAG with a bare KeyError,
    and a misspelled key was ignored)."""
    from lms_connectors.orchestration.dag_factory import REGISTRY_PROBLEM_DAG_ID, build_all
    from lms_connectors.providers.registry import RegistryError, load_registry, read_registry

    path = tmp_path / "connectors.yaml"
    path.write_text(BROKEN_REGISTRY)
    read = read_registry(path)
    assert [s.id for s in read.specs] == ["good"]
    assert read.problems == [
        "connector 'no_start' (entry 2): missing key 'start_date'",
        "connector 'typo' (entry 3): unknown key 'retrys' (did you mean 'retries'?)",
        "connector 'bad_retries' (entry 4): retries must be a whole number, not 'two'",
        "entry 5: not a mapping of keys (got str)",
        "connector 'good' (entry 6): id used by an earlier entry",
    ]
    with pytest.raises(RegistryError) as refused:
        load_registry(path)
    assert str(refused.value).splitlines() == [f"{path}: {problem}" for problem in read.problems]

    dags = build_all(path)
    assert {"lms_connector_good", "lms_connector_good_apply_settings", REGISTRY_PROBLEM_DAG_ID} <= set(dags)
    assert not any("no_start" in d or "typo" in d for d in dags)
    told = dags[REGISTRY_PROBLEM_DAG_ID]
    assert all(problem in told.doc_md for problem in read.problems)
    assert told.description.startswith("5 problem(s) in connectors.yaml: connector 'no_start'")
    assert told.schedule is None or str(told.timetable.summary) in ("None", "none")


def test_a_sound_registry_gives_no_problem_dag(bag):
    from lms_connectors.orchestration.dag_factory import REGISTRY_PROBLEM_DAG_ID

    assert REGISTRY_PROBLEM_DAG_ID not in bag[0].dags and bag[0].import_errors == {}


def test_every_dag_whose_conf_holds_emails_sends_no_lineage_event_and_forgets_them(bag):
    """An OpenLineage event carries the run's conf, and a sent event cannot be scrubbed: every DAG
    whose form asks for emails declares the emission policy ``emit: false`` (the installed
    distribution's erase and export runs prove the policy holds: test_distribution.py)."""
    from airflow.providers.openlineage.utils.emission_policy import OL_EMISSION_POLICY_PARAM

    holding = {dag_id: dag for dag_id, dag in bag[0].dags.items() if "emails" in dag.params}
    assert set(MANUAL_PRIVACY_DAGS) - {"lms_connectors_rotate_key"} <= set(holding)
    for dag_id, dag in holding.items():
        assert dag.params[OL_EMISSION_POLICY_PARAM] == {"emit": False}, dag_id
        # And its last task removes the emails from Airflow's tables, whatever became of the others,
        # as a teardown: a failed request is a failed run, not one the cleanup turned green.
        forget = dag.get_task("forget_request_values")
        assert forget.is_teardown and not forget.downstream_task_ids, dag_id
        assert set(dag.task_ids) - {forget.task_id} <= forget.upstream_task_ids, dag_id


@pytest.mark.parametrize("dag_id", ["lms_connectors_erase_learners", "lms_connectors_export_learners"])
def test_a_privacy_request_may_leave_either_the_user_ids_or_the_emails_empty(bag, dag_id):
    """The form marked both required; a request naming nobody is refused by the task instead."""
    from lms_connectors.orchestration.privacy_dags import request_learners
    from lms_connectors.rules.errors import PermanentError

    params = bag[0].dags[dag_id].params
    for name in ("user_ids", "emails"):
        assert params.get_param(name).resolve(None) is None
        assert "null" in params.get_param(name).schema["type"]
    assert request_learners({"user_ids": None, "emails": ["a@example.com"]}) == ([], ["a@example.com"])
    with pytest.raises(PermanentError, match="names no learner"):
        request_learners({"user_ids": [], "emails": None})


def test_a_shell_of_the_embedded_stack_parses_the_dags_without_warnings():
    """`make demo` and every `airflow` call after `make env` printed third-party deprecation warnings
    a newcomer took for trouble; the stack's environment filters the known ones, and no other shows."""
    from devstack import stack

    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}",
        "PYTHONWARNINGS": ",".join(stack.KNOWN_WARNINGS),
    }
    script = "from airflow.dag_processing.dagbag import DagBag; print(len(DagBag(dag_folder=%r).dags))"
    out = subprocess.run(
        [sys.executable, "-c", script % str(ROOT / "dags")], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert out.returncode == 0 and int(out.stdout.split()[-1]) > 0, out.stderr[-3000:]
    said = out.stdout + out.stderr
    assert "Warning" not in said and "deprecated" not in said, said[-3000:]


def test_the_language_picker_names_each_language_and_sends_its_code(bag):
    """The picker listed 184 bare codes; each option now shows its language, the value stays the code."""
    languages = bag[0].dags["lms_connector_openclassrooms_apply_settings"].params.get_param("languages")
    shown = languages.schema["values_display"]
    assert set(shown) == set(languages.schema["examples"]) and len(shown) > 180
    assert shown["fr"] == "French (fr)" and shown["de"] == "German (de)"
    assert languages.resolve(["fr", "en"]) == ["fr", "en"]
