"""End to end: `make demo`, then `make airflow`, then the connector health page in
headless Chromium inside the Airflow UI; its figures against the warehouse; then
`make stop` leaves nothing running.

Needs Debian's chromium (/usr/bin/chromium), which `make test` installs.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.builders import artifacts_dir, free_port
from tests.e2e.shell import runner, user_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LMS_CHROMIUM", "/usr/bin/chromium")
# The probe of this machine kind: without these, Chromium tries Google's hosts at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.timeout(900)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make browser)")
    local = tmp_path_factory.mktemp("stack")
    # The demo's three days, and the day before them: the registry's start_date.
    env = user_env(local, dt.datetime.now(dt.UTC).date() - dt.timedelta(days=4))
    run = runner(env)
    try:
        # The README's first command, as written.
        demo = subprocess.run(["make", "demo"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        port = free_port()
        # Two at once, as from two terminals: one Airflow starts and both report it.
        ups = [
            subprocess.Popen(
                [sys.executable, "-m", "devstack.airflow_ui", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [up.communicate(timeout=400) for up in ups]
        for up, (out, err) in zip(ups, outs, strict=True):
            assert up.returncode == 0, out[-3000:] + err[-3000:]
        state = json.loads((local / "stack.json").read_text())
        reported = {re.search(r"\(pid (\d+),", out).group(1) for out, _ in outs}
        assert reported == {str(state["airflow"]["pid"])}
        yield {"state": state, "stdout": outs[0][0], "local": local, "env": env, "demo": demo.stdout}
    finally:
        state = json.loads((local / "stack.json").read_text()) if (local / "stack.json").exists() else {}
        pids = [(state.get(k) or {}).get("pid") for k in ("airflow", "postgres", "xapi")]
        pids += [sim.get("pid") for sim in (state.get("simulators") or {}).values()]
        down = run("devstack.stack", "down", timeout=120)
        # `make stop` is the contract: every process it started is gone, children included.
        left = [pid for pid in pids if pid and _alive(pid)]
        group = (state.get("airflow") or {}).get("pid")
        if group:
            try:
                os.killpg(group, 0)
                left.append(f"process group {group}")
            except ProcessLookupError:
                pass
        assert down.returncode == 0 and not left, f"left running: {left}\n{down.stdout}{down.stderr}"


def _token(url: str, password: str) -> str:
    r = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


def _login(stack: dict[str, Any]) -> tuple[str, str]:
    """The UI's URL and a token of its admin, signed in with the password `make airflow` printed."""
    from devstack.airflow_ui import password

    url = stack["state"]["airflow"]["url"]
    return url, _token(url, password(Path(stack["local"]) / "airflow"))


@contextlib.contextmanager
def _ui_page(url: str, token: str, width: int, height: int) -> Iterator[tuple[Any, Any]]:
    """Headless Chromium signed in to the UI: (browser context, its first page)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            # The UI keeps its session in this cookie; the plugin's requests carry it.
            context.add_cookies([{"name": "_token", "value": token, "url": url}])
            yield context, context.new_page()
        finally:
            browser.close()


def _cluster(stack: dict[str, Any]):
    from devstack.stack import running_at

    return running_at(stack["local"])[1]


def _metadata(stack: dict[str, Any]) -> psycopg.Connection:
    """The stack's Airflow metadata database (on its Postgres), as Airflow's own login."""
    from devstack.postgres import AIRFLOW_LOGIN
    from devstack.stack import METADATA_DB

    return _cluster(stack).connect(AIRFLOW_LOGIN, METADATA_DB)


def _expected(stack: dict[str, Any]) -> dict[str, Any]:
    with _cluster(stack).connect("postgres", stack["state"]["postgres"]["dbname"]) as conn:
        q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
        return {
            "active": q("SELECT count(*) FROM lms.courses WHERE connector_id = 'openclassrooms' AND is_active")[0][0],
            "archived": q("SELECT count(*) FROM lms.courses WHERE connector_id = 'openclassrooms' AND NOT is_active")[
                0
            ][0],
            "reasons": dict(
                q(
                    "SELECT r, count(*) FROM lms.courses, unnest(archive_reasons) r "
                    "WHERE connector_id = 'openclassrooms' GROUP BY r"
                )
            ),
            "unmatched": q("SELECT count(*) FROM ops.unmatched_learners WHERE connector_id = 'openclassrooms'")[0][0],
            "runs": q(
                "SELECT status, activity_records FROM ops.sync_runs WHERE connector_id = 'openclassrooms' "
                "ORDER BY interval_start DESC NULLS LAST, started_at DESC LIMIT 10"
            ),
            "connectors": sorted(r[0] for r in q("SELECT DISTINCT connector_id FROM ops.sync_runs")),
            # The analysts' view is the definition the page must agree with.
            "daily": {
                d.isoformat(): (a, c)
                for d, a, c in q(
                    "SELECT activity_date, active_learners, completions FROM stats.v_daily_activity "
                    "WHERE connector_id = 'openclassrooms' AND activity_date >= current_date - 30 "
                    "AND activity_date < current_date"
                )
            },
        }


def test_make_airflow_prints_the_login_and_the_page(stack):
    out = stack["stdout"]
    url = stack["state"]["airflow"]["url"]
    assert url in out and "login:       admin / " in out
    assert f"{url}/plugin/lms-connector-health" in out
    # Every DAG a newcomer is told to use is named (the analysts' guide says to unpause the refresh).
    assert "lms_dashboards_refresh" in out and "lms_connectors_erase_learners" in out
    # Its scheduler forks task processes with the heavy imports already done. The scheduler reports
    # healthy before its executor has started: the preload's line may come a few seconds later.
    log = Path(stack["state"]["airflow"]["log"])
    deadline = time.monotonic() + 120
    while "for task processes in" not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(1)
    text = log.read_text(errors="replace")
    assert "Loaded executor: ::lms_connectors.orchestration.executors.PreloadingLocalExecutor" in text
    assert "preloaded " in text and "for task processes in" in text


def test_health_page_is_private(stack):
    url, token = _login(stack)
    assert requests.get(f"{url}/lms-connector-health/", timeout=30).status_code == 401
    # No interactive docs or schema of the page's app, signed in or not.
    for path in ("docs", "redoc", "openapi.json"):
        r = requests.get(f"{url}/lms-connector-health/{path}", cookies={"_token": token}, timeout=30)
        assert r.status_code == 404, path


def test_make_airflow_listens_on_loopback_and_keeps_its_secrets_private(stack):
    port = stack["state"]["airflow"]["port"]
    # /proc/net/tcp: every listening socket on the API's port is bound to 127.0.0.1 (0100007F).
    listening = [
        line.split()[1]
        for name in ("/proc/net/tcp", "/proc/net/tcp6")
        for line in Path(name).read_text().splitlines()[1:]
        if line.split()[3] == "0A" and line.split()[1].endswith(f":{port:04X}")
    ]
    assert listening and all(addr.startswith("0100007F:") for addr in listening), listening
    local = Path(stack["local"])
    for path in (
        local / "stack.json",
        local / "secrets.json",
        local / "airflow" / "airflow.cfg",
        local / "airflow" / "simple_auth_manager_passwords.json.generated",
    ):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"


def test_the_embedded_stack_serves_the_xapi_endpoint_with_credentials_made_as_documented(stack):
    """docs/XAPI.md's commands: credentials from a shell after `make env`, then a provider's push.
    `make airflow` printed where providers push."""
    assert f"{stack['state']['xapi']['url']}/statements" in stack["stdout"]
    out = _bash(
        stack, 'eval "$(make -s env)"; python -m lms_connectors.xapi credentials --connector linkedin_learning', 120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    creds = dict(re.findall(r"^(username|secret):\s+(\S+)$", out.stdout, re.M))
    statement = {
        "actor": {"mbox": "mailto:someone@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/progressed"},
        "object": {"id": "https://www.linkedin.com/learning/some-course"},
    }
    answer = requests.post(
        f"{stack['state']['xapi']['url']}/statements",
        json=statement,
        auth=(creds["username"], creds["secret"]),
        headers={"X-Experience-API-Version": "1.0.3"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    (statement_id,) = answer.json()
    with _cluster(stack).connect("postgres", stack["state"]["postgres"]["dbname"]) as conn:
        assert conn.execute(
            "SELECT connector_id FROM xapi.statements WHERE statement_id = %s", (statement_id,)
        ).fetchall() == [("linkedin_learning",)]


def test_the_warehouse_connections_are_least_privileged_and_kept_encrypted(stack):
    """The Connections the DAG and the page use, as the user's shell reads them from the metadata
    database (`stack env` exports none): neither is the owner or a superuser; both are encrypted."""
    env = subprocess.run(
        [sys.executable, "-m", "devstack.stack", "env"],
        env=stack["env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "AIRFLOW_CONN_" not in env and "AIRFLOW__CORE__FERNET_KEY" in env

    def get(conn_id: str) -> dict[str, Any]:
        out = _bash(stack, f'eval "$(make -s env)"; airflow connections get {conn_id} -o json', 120)
        assert out.returncode == 0, out.stderr[-2000:]
        (conn,) = json.loads(out.stdout[out.stdout.index("[") :])
        return conn

    sync, health = get("lms_warehouse"), get("lms_warehouse_readonly")
    assert (sync["login"], health["login"]) == ("lms_connector", "lms_health")
    assert sync["is_encrypted"] == health["is_encrypted"] == "True"
    # The settings Variables too ("empty cryptography key" no more).
    with _metadata(stack) as db:
        variables = dict(db.execute("SELECT key, is_encrypted FROM variable WHERE key LIKE 'lms_connector_%'"))
    assert len(variables) == 3 and set(variables.values()) == {True}, variables
    for conn_json in (sync, health):
        with psycopg.connect(
            host=conn_json["host"], dbname=conn_json["schema"], user=conn_json["login"], password=conn_json["password"]
        ) as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
            assert conn.execute("SELECT has_schema_privilege('lms', 'CREATE')").fetchone() == (False,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE lms.sneaky (x int)")
    # ... and the demo's runs succeeded with it.
    assert all(status == "success" for status, _ in _expected(stack)["runs"])


def test_health_page_in_the_airflow_ui_shows_the_warehouse_figures(stack):
    url, token = _login(stack)
    expected = _expected(stack)
    assert expected["runs"] and all(status == "success" for status, _ in expected["runs"])
    shot = artifacts_dir() / "connector-health.png"
    graph_shot = artifacts_dir() / "dag-graph.png"
    with _ui_page(url, token, 1400, 1600) as (context, page):
        page.goto(f"{url}/plugin/lms-connector-health", wait_until="networkidle")
        frame = page.frame_locator("iframe").first
        section = frame.locator('section[data-connector="openclassrooms"]')
        section.wait_for(timeout=60_000)
        # Every connector of the registry has its section (make demo ran them all).
        listed = sorted(s.get_attribute("data-connector") for s in frame.locator("section[data-connector]").all())
        assert listed == expected["connectors"] == ["linkedin_learning", "openclassrooms", "skillsoft_percipio"]
        other = frame.locator('section[data-connector="linkedin_learning"] [data-figure="last_status"]')
        assert other.inner_text() == "success"
        fig = lambda name: section.locator(f'[data-figure="{name}"]').inner_text()  # noqa: E731
        assert fig("last_status") == "success"
        assert int(fig("active_courses")) == expected["active"] > 0
        assert int(fig("archived_courses")) == expected["archived"]
        assert int(fig("unmatched_learners")) == expected["unmatched"]
        reasons = {
            row.get_attribute("data-key"): int(row.locator('[data-field="courses"]').inner_text())
            for row in section.locator('table[data-table="archived_by_reason"] tbody tr').all()
        }
        assert reasons == expected["reasons"]
        runs = section.locator('table[data-table="runs"] tbody tr')
        assert runs.count() == len(expected["runs"])
        assert [int(r.locator('[data-field="activity_records"]').inner_text()) for r in runs.all()] == [
            n for _, n in expected["runs"]
        ]
        # Each run: its duration on one scale, links to its Airflow run and log.
        assert runs.locator('[data-field="duration"] svg.bar').count() == runs.count()
        assert all(
            float(s) > 0 for s in runs.locator("[data-seconds]").evaluate_all("e => e.map(x => x.dataset.seconds)")
        )
        run_href = runs.first.locator('a[data-link="run"]').get_attribute("href")
        assert "/dags/lms_connector_openclassrooms/runs/" in run_href
        assert section.locator("svg.chart polyline.series-active").count() == 1
        section.locator("details summary").click()
        shown = {
            row.get_attribute("data-key"): (
                int(row.locator('[data-field="active_learners"]').inner_text()),
                int(row.locator('[data-field="completions"]').inner_text()),
            )
            for row in section.locator('table[data-table="daily"] tbody tr').all()
        }
        assert len(shown) == 30
        for day, figures in expected["daily"].items():
            if day in shown:
                assert shown[day] == figures, day
        assert sum(a for a, _ in shown.values()) > 0
        page.screenshot(path=str(shot), full_page=True)
        # Clicked, the links take the UI's window to the run, then to the task's log.
        run_url = f"{url}/{run_href.removeprefix('../')}"
        runs.first.locator('a[data-link="run"]').click()
        page.wait_for_url(run_url, timeout=30_000)
        page.get_by_text("Task Instances").first.wait_for(timeout=60_000)
        page.go_back()
        page.wait_for_url(f"{url}/plugin/lms-connector-health**", timeout=30_000)
        log_link = frame.locator('section[data-connector="openclassrooms"] table[data-table="runs"] tbody tr')
        log_link.first.locator('a[data-link="log"]').click()
        page.wait_for_url(f"{run_url}/tasks/sync_statistics", timeout=30_000)
        page.get_by_text("sync_statistics").first.wait_for(timeout=60_000)
        # That run is one of `make demo`'s (dag.test, in process): its task log is there to read.
        log = requests.get(
            f"{url}/api/v2/{run_href.removeprefix('../').replace('/runs/', '/dagRuns/')}"
            "/taskInstances/sync_statistics/logs/1",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=30,
        )
        log.raise_for_status()
        events = [line.get("event", "") for line in log.json()["content"] if isinstance(line, dict)]
        assert any(e.startswith("run report\nstatus                success") for e in events), events[:20]
        # The DAG's graph, as the README shows it: its four tasks.
        graph_page = context.new_page()
        graph_page.add_init_script("window.localStorage.setItem('default_dag_view', JSON.stringify('graph'))")
        graph_page.goto(f"{url}/dags/lms_connector_openclassrooms", wait_until="networkidle")
        for task_id in ("config", "sync_catalogue", "extract_progress", "sync_statistics"):
            graph_page.get_by_text(task_id, exact=True).first.wait_for(timeout=60_000)
        graph_page.screenshot(path=str(graph_shot), full_page=True)
    assert shot.stat().st_size > 10_000 and graph_shot.stat().st_size > 10_000
    shutil.copy(shot, stack["local"] / shot.name)


def _doc_block(page: str, heading: str) -> str:
    """The first ```bash block after a heading of a page (``README.md``, ``docs/…``): what a user copies."""
    text = (ROOT / page).read_text()
    section = text[text.index(heading) :]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def _runs(url: str, token: str, dag_id: str) -> list[dict[str, Any]]:
    r = requests.get(
        f"{url}/api/v2/dags/{dag_id}/dagRuns",
        params={"limit": 100, "order_by": "logical_date"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()["dag_runs"]


def _tries(url: str, token: str, dag_id: str, run_id: str) -> int:
    r = requests.get(
        f"{url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/config",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()["try_number"]


def test_demo_runs_backfills_and_the_scheduler_agree_on_each_day(stack):
    """The operators' guide's backfill commands, as written (their dates moved next to the demo's days), after
    `make demo`: each requested day runs once, the demo's days are reprocessed in place, and once
    unpaused the scheduler finds every day done and leaves nothing queued."""
    dag_id = "lms_connector_openclassrooms"
    url, token = _login(stack)
    demo = _runs(url, token, dag_id)
    assert len(demo) == 3
    assert all(r["logical_date"] == r["data_interval_start"] for r in demo), demo
    # Each named after its day: a re-run of the demo is the same run, and its ops.sync_runs row too.
    assert [r["dag_run_id"] for r in demo] == [
        f"manual__{dt.datetime.fromisoformat(r['logical_date']).isoformat()}" for r in demo
    ]
    # Their start and end are the real ones (dag.test records the logical date as the start).
    lasted = [dt.datetime.fromisoformat(r["end_date"]) - dt.datetime.fromisoformat(r["start_date"]) for r in demo]
    assert all(dt.timedelta(0) < d < dt.timedelta(minutes=10) for d in lasted), lasted
    days = sorted(r["logical_date"][:10] for r in demo)
    first_demo = dt.date.fromisoformat(days[0])
    earlier = first_demo - dt.timedelta(days=1)  # the registry's start_date: no run yet
    block = _doc_block("docs/OPERATORS.md", "## Backfills: replaying missed days")
    block = block.replace("2026-11-01", earlier.isoformat()).replace("2026-11-10", first_demo.isoformat())
    t0 = time.monotonic()
    out = _bash(stack, block)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # The dry run names the two requested days.
    assert earlier.isoformat() in out.stdout and first_demo.isoformat() in out.stdout
    wanted = {earlier.isoformat(), *days}
    while time.monotonic() - t0 < 600:
        runs = _runs(url, token, dag_id)
        if {r["logical_date"][:10] for r in runs} == wanted and all(r["state"] == "success" for r in runs):
            break
        assert not any(r["state"] == "failed" for r in runs), runs
        time.sleep(5)
    else:
        pytest.fail(f"runs not done after 10 minutes: {runs}")
    time.sleep(15)  # a scheduler loop or two: nothing more is created
    runs = _runs(url, token, dag_id)
    assert sorted(r["logical_date"][:10] for r in runs) == sorted(wanted)
    assert all(r["logical_date"] == r["data_interval_start"] for r in runs)
    assert all(r["state"] == "success" for r in runs), runs
    tries = {r["logical_date"][:10]: _tries(url, token, dag_id, r["dag_run_id"]) for r in runs}
    # The new day once; the demo day inside the range replayed once; the others untouched.
    assert tries == {earlier.isoformat(): 1, days[0]: 2, days[1]: 1, days[2]: 1}
    # Airflow 3.3's backfill names its runs itself, after the run_after (the day after): not the timetable.
    assert f"backfill__{first_demo.isoformat()}T00:00:00+00:00" in {r["dag_run_id"] for r in runs}
    # Every ops.sync_runs row of the connector links to a run that exists.
    with _cluster(stack).connect("postgres", stack["state"]["postgres"]["dbname"]) as conn:
        recorded = {
            row[0] for row in conn.execute("SELECT run_id FROM ops.sync_runs WHERE dag_id = %s", (dag_id,)).fetchall()
        }
    assert recorded == {f"{dag_id}/{r['dag_run_id']}" for r in runs}


def _backfills_over(url: str, token: str, dag_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(
            f"{url}/api/v2/backfills",
            params={"dag_id": dag_id},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        r.raise_for_status()
        open_ = [b["id"] for b in r.json()["backfills"] if b["completed_at"] is None]
        if not open_:
            return
        assert time.monotonic() < deadline, f"backfills {open_} of {dag_id} still open"
        time.sleep(5)


def _form_test(page: Any, conn_id: str) -> dict[str, Any]:
    """Press the row's Test button in Admin > Connections; the API server's answer to the UI."""
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
        page.locator("tr", has_text=conn_id).get_by_role("button", name="Test Connection").click()
    assert answer.value.status == 200, answer.value.text()
    return answer.value.json()


def _form_secret(page: Any, conn_id: str, secret: str) -> None:
    """Edit the Connection in Admin > Connections: a new Client secret, saved."""
    page.locator("tr", has_text=conn_id).get_by_role("button", name="Edit Connection").click()
    form = page.get_by_role("dialog")
    form.locator("input[name=password]").fill(secret)
    with page.expect_response(lambda r: f"/api/v2/connections/{conn_id}" in r.url and r.request.method == "PATCH"):
        form.get_by_role("button", name="Save").click()
    form.wait_for(state="detached", timeout=30_000)


def test_an_admin_fills_the_providers_connection_form_tests_it_and_the_next_run_uses_it(stack):
    """Admin > Connections as an admin meets it: a new Connection of type OpenClassrooms with its three
    fields (and the simulator as base URL), Test says yes, then no once the secret is wrong, and the
    next run of the connector reads the Connection saved there: the stack gives Airflow none in its
    environment, and the metadata database keeps it encrypted."""

    dag_id, conn_id = "lms_connector_openclassrooms", "openclassrooms_default"
    url, token = _login(stack)
    sim = stack["state"]["simulators"]["openclassrooms"]
    auth = {"Authorization": f"Bearer {token}"}
    assert b"AIRFLOW_CONN_" not in Path(f"/proc/{stack['state']['airflow']['pid']}/environ").read_bytes()
    # The one the stack wrote goes: the admin creates it.
    requests.delete(f"{url}/api/v2/connections/{conn_id}", headers=auth, timeout=30).raise_for_status()
    shot = artifacts_dir() / "connection-form.png"
    with _ui_page(url, token, 1200, 1000) as (_, page):
        page.goto(f"{url}/connections", wait_until="networkidle")
        page.get_by_role("button", name="Add Connection").first.click()
        form = page.get_by_role("dialog")
        form.locator("input[name=connection_id]").fill(conn_id)
        form.get_by_role("combobox").fill("OpenClassrooms")
        page.keyboard.press("Enter")
        assert form.get_by_text("Client ID", exact=True).is_visible()
        form.locator("input[name=login]").fill(sim["client_id"])
        form.locator("input[name=password]").fill(sim["client_secret"])
        form.get_by_role("button", name="Extra Fields", exact=True).click()
        form.get_by_text("Organization ID").wait_for(timeout=10_000)
        form.locator("#element_organization_id").fill(sim["extras"]["organization_id"])
        form.locator("#element_base_url").fill(sim["url"])
        page.screenshot(path=str(shot))
        form.get_by_role("button", name="Save").click()
        form.wait_for(state="detached", timeout=30_000)
        said = _form_test(page, conn_id)
        assert said["status"] is True and said["message"].startswith("OpenClassrooms: credentials accepted"), said
        _form_secret(page, conn_id, "wrong-secret")
        said = _form_test(page, conn_id)
        assert said["status"] is False and said["message"].startswith("OpenClassrooms"), said
        assert "wrong-secret" not in said["message"]
        # The UI says it too.
        page.get_by_text("Test Connection Failed").first.wait_for(timeout=30_000)
        _form_secret(page, conn_id, sim["client_secret"])
        # Skillsoft Percipio's form: each of its fields under its label, the API region among them.
        page.goto(f"{url}/connections", wait_until="networkidle")
        page.get_by_role("button", name="Add Connection").first.click()
        form = page.get_by_role("dialog")
        form.get_by_role("combobox").fill("Skillsoft Percipio")
        page.keyboard.press("Enter")
        form.get_by_role("button", name="Extra Fields", exact=True).click()
        labels = ("Organization ID", "API region", "API base URL", "Report poll interval (s)", "Report wait limit (s)")
        for label in labels:
            form.get_by_text(label, exact=True).first.wait_for(timeout=10_000)
        assert form.get_by_text("poll_seconds", exact=True).count() == 0
        page.keyboard.press("Escape")
    assert shot.stat().st_size > 10_000
    with _metadata(stack) as db:
        stored = db.execute(
            "SELECT conn_type, is_encrypted, is_extra_encrypted, password, extra FROM connection WHERE conn_id = %s",
            (conn_id,),
        ).fetchone()
    assert stored[:3] == ("openclassrooms", True, True)
    assert sim["client_secret"] not in stored[3] and sim["url"] not in stored[4]
    # The next run: yesterday's day again (the form's Connection is the only one Airflow has), once
    # the earlier tests' backfills are over (Airflow runs one backfill per DAG at a time; one with
    # no day left to run stays open until the scheduler closes it, up to two minutes later).
    _backfills_over(url, token, dag_id)
    day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    (before,) = [r for r in _runs(url, token, dag_id) if r["logical_date"][:10] == day]
    tries = _tries(url, token, dag_id, before["dag_run_id"])
    out = _bash(
        stack,
        f'eval "$(make -s env)"; airflow backfill create --dag-id {dag_id} --from-date {day} --to-date {day} '
        "--reprocess-behavior completed",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    deadline = time.monotonic() + 300
    while True:
        (run,) = [r for r in _runs(url, token, dag_id) if r["logical_date"][:10] == day]
        if _tries(url, token, dag_id, run["dag_run_id"]) > tries and run["state"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, run
        time.sleep(3)
    assert run["state"] == "success", run


def _bash(stack: dict[str, Any], script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A user's shell in the project, running what they pasted."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=stack["env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _new_run_done(url: str, token: str, dag_id: str, before: set[str], timeout: float = 300) -> dict[str, Any]:
    """The run of ``dag_id`` not in ``before`` (the one just triggered), once it has finished."""
    deadline = time.monotonic() + timeout
    while True:
        new = [r for r in _runs(url, token, dag_id) if r["dag_run_id"] not in before]
        if new and new[0]["state"] in ("success", "failed"):
            return new[0]
        assert time.monotonic() < deadline, new or "no new run"
        time.sleep(3)


def _active_languages(stack: dict[str, Any]) -> set[str]:
    with _cluster(stack).connect("postgres", stack["state"]["postgres"]["dbname"]) as conn:
        rows = conn.execute(
            "SELECT DISTINCT language FROM lms.courses WHERE connector_id = 'openclassrooms' AND is_active"
        ).fetchall()
    return {r[0] for r in rows}


def test_the_demo_hint_applies_a_filter_as_printed(stack):
    """`make demo` ends with the command that applies a language filter: pasted as printed (with the
    apply DAG paused, as on a fresh stack), it saves and applies it."""
    (hint,) = [line.strip() for line in stack["demo"].splitlines() if "airflow dags test" in line]
    assert '"dry_run": false' in hint
    assert _active_languages(stack) - {"fr", "en"}
    out = _bash(stack, hint)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert _active_languages(stack) <= {"fr", "en"}
    variable = _bash(stack, 'eval "$(make -s env)"; airflow variables get lms_connector_openclassrooms', 120)
    assert json.loads(variable.stdout)["languages"] == ["fr", "en"], variable.stdout + variable.stderr


def test_the_admin_guide_block_runs_as_written(stack):
    dag_id = "lms_connector_openclassrooms_apply_settings"
    url, token = _login(stack)
    before = {r["dag_run_id"] for r in _runs(url, token, dag_id)}
    out = _bash(stack, _doc_block("docs/ADMINS.md", "## Admin actions"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run = _new_run_done(url, token, dag_id, before)
    assert run["state"] == "success", run
    assert run["conf"] == {"languages": ["fr", "en"], "dry_run": True}


def test_a_value_outside_a_params_schema_is_refused_with_the_params_name_and_bound(stack):
    """Airflow's own CLI (no wrapper of ours): a refusal that names the param and its bound, no run made."""
    url, token = _login(stack)
    before = len(_runs(url, token, "lms_connector_openclassrooms"))
    out = _bash(
        stack,
        'eval "$(make -s env)"; airflow dags trigger lms_connector_openclassrooms -c \'{"initial_load_days": 999}\'',
    )
    assert out.returncode == 1
    said = "Invalid input for param initial_load_days: 999 is greater than the maximum of 366"
    assert said in out.stderr, out.stderr[-3000:]
    assert len(_runs(url, token, "lms_connector_openclassrooms")) == before


def test_a_misspelt_conf_key_is_refused_when_triggered_through_the_api(stack):
    """The UI's Trigger and the REST API: a 400 naming the key and a near one, before any run exists."""
    url, token = _login(stack)
    dag_id = "lms_connector_openclassrooms_apply_settings"
    before = len(_runs(url, token, dag_id))
    r = requests.post(
        f"{url}/api/v2/dags/{dag_id}/dagRuns",
        json={"logical_date": None, "conf": {"dryrun": False, "languages": ["fr"]}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert "unknown key in the run's conf: 'dryrun' (did you mean 'dry_run'?); accepted: " in r.json()["detail"]
    assert len(_runs(url, token, dag_id)) == before


def test_the_trigger_form_offers_keep_enable_or_disable_not_a_switch(stack):
    """The form's "Connector state" reads "Keep as saved" by default; picking "Disabled" sends false."""
    dag_id = "lms_connector_openclassrooms_apply_settings"
    url, token = _login(stack)
    before = {r["dag_run_id"] for r in _runs(url, token, dag_id)}
    with _ui_page(url, token, 1300, 1400) as (_, page):
        page.goto(f"{url}/dags/{dag_id}", wait_until="networkidle")
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Keep as saved in the Variable").wait_for(timeout=30_000)
        dialog.locator("#element_enabled").click()  # the dropdown (a switch would have no options)
        dialog.get_by_text("Disabled: archive every course, keep learning data").click()
        dialog.get_by_role("button", name="Trigger").click()
        run = _new_run_done(url, token, dag_id, before)
    # Dry run stays ticked by default: the choice is sent, nothing is applied.
    assert run["conf"]["enabled"] is False and run["conf"]["dry_run"] is True, run["conf"]
    assert run["state"] == "success", run
    assert _active_languages(stack)


def test_make_demo_refuses_while_the_scheduler_would_run_its_dags(stack):
    """The connector DAG (unpaused by the backfill test) and the apply DAG (by the admin block) are
    unpaused under a live scheduler: the demo says so and runs nothing."""
    url, token = _login(stack)

    def not_scheduled() -> set[str]:
        # The live scheduler may add a scheduled run meanwhile (a day ends at midnight UTC, seen in CI).
        runs = _runs(url, token, "lms_connector_openclassrooms")
        return {r["dag_run_id"] for r in runs if r["run_type"] != "scheduled"}

    before = not_scheduled()
    demo = runner(stack["env"])("devstack.demo", timeout=300)
    assert demo.returncode == 2, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "lms_connector_openclassrooms, lms_connector_openclassrooms_apply_settings" in demo.stderr
    assert "airflow dags pause" in demo.stderr and "make stop" in demo.stderr
    assert "running lms_connector" not in demo.stdout
    assert not_scheduled() == before


def test_the_readme_analyst_block_and_the_example_queries_run_as_an_analyst(stack):
    out = _bash(stack, _doc_block("README.md", "## Analysts"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # Dashboards have data after `make demo`: both connectors' days.
    assert all(c in out.stdout for c in ("openclassrooms", "linkedin_learning", "skillsoft_percipio"))
    # The shell keeps its own commands after either eval (single quotes once replaced its PATH), and
    # gets the one each adds: psql, or Airflow's own CLI from the virtualenv.
    for block, added in (("analyst-login", "psql"), ("env", "airflow")):
        after = _bash(stack, f'eval "$(make -s {block})" && command -v make ls grep {added}')
        assert after.returncode == 0 and len(after.stdout.split()) == 4, block + after.stdout + after.stderr
        assert after.stdout.split()[-1].startswith(str(ROOT / ".venv")), after.stdout
    # Last: each analyst-login gives a new password, the earlier DSNs stop working.
    login = _bash(stack, "make -s analyst-login")
    (dsn,) = re.findall(r"^export LMS_ANALYST_DSN='(.*)'$", login.stdout, re.M)
    guide = (ROOT / "docs" / "ANALYSTS.md").read_text()
    examples = re.search(r"## Example queries.*?```sql\n(.*?)```", guide, re.S).group(1)
    queries = [q.strip() for q in examples.split(";") if q.strip()]
    assert len(queries) >= 7
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("lms_reader",)
        results = {q.splitlines()[0]: conn.execute(q).fetchall() for q in queries}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT 1 FROM lms.courses LIMIT 1")
    # Each example answers something on the demo's data (its month of history included).
    assert [title for title, rows in results.items() if not rows] == []
    # The demo's LMS paths: stats.v_path_progress has rows, per connector.
    assert results["-- Progress of each learner through a path"]
    with psycopg.connect(dsn) as conn:
        by_connector = dict(
            conn.execute("SELECT connector_id, count(*) FROM stats.v_path_progress GROUP BY 1").fetchall()
        )
    assert set(by_connector) == {"openclassrooms", "linkedin_learning", "skillsoft_percipio"}


def test_retention_runs_by_default_and_the_page_says_when(stack):
    """No one unpaused it: `make airflow`'s scheduler runs retention from the start, it purges the
    warehouse (an audit entry), and the health page shows when, not overdue."""
    url, token = _login(stack)
    auth = {"Authorization": f"Bearer {token}"}
    for dag_id in ("lms_connectors_retention", "lms_connectors_deadlines"):
        r = requests.get(f"{url}/api/v2/dags/{dag_id}", headers=auth, timeout=30)
        r.raise_for_status()
        assert r.json()["is_paused"] is False, dag_id
    deadline = time.monotonic() + 300
    while not any(r["state"] == "success" for r in _runs(url, token, "lms_connectors_retention")):
        states = [r["state"] for r in _runs(url, token, "lms_connectors_retention")]
        assert "failed" not in states and time.monotonic() < deadline, states
        time.sleep(5)
    with _cluster(stack).connect("postgres", stack["state"]["postgres"]["dbname"]) as conn:
        (last,) = conn.execute("SELECT max(at) FROM ops.audit_log WHERE action = 'retention'").fetchone()
    assert last is not None
    page = requests.get(f"{url}/lms-connector-health/", cookies={"_token": token}, timeout=60)
    page.raise_for_status()
    assert 'data-figure="retention_last_run"' in page.text and 'class="figure overdue"' not in page.text
    assert last.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") in page.text


def test_the_test_button_never_sends_a_stored_secret_to_an_edited_url(stack):
    """An Op user edits only the Connection's base URL and presses Test: the other host receives
    nothing (Airflow reuses a stored secret when host and port are unchanged; the endpoint is in the
    extra), and the answer asks for the secret again. With the secret given again, it is sent."""
    import http.server
    import threading

    url, token = _login(stack)
    auth = {"Authorization": f"Bearer {token}"}
    sim = stack["state"]["simulators"]["openclassrooms"]
    conn_id, secret = "guarded_openclassrooms", sim["client_secret"]
    extra = {"organization_id": sim["extras"]["organization_id"], "base_url": sim["url"]}
    saved = {"connection_id": conn_id, "conn_type": "openclassrooms", "login": sim["client_id"], "password": secret}
    requests.delete(f"{url}/api/v2/connections/{conn_id}", headers=auth, timeout=30)
    r = requests.post(f"{url}/api/v2/connections", json={**saved, "extra": json.dumps(extra)}, headers=auth, timeout=30)
    r.raise_for_status()

    received: list[dict[str, str]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(dict(self.headers))
            self.send_response(401)
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    collector = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        elsewhere = {**extra, "base_url": f"http://127.0.0.1:{collector.server_address[1]}"}
        attack = {**saved, "password": "***", "port": 0, "extra": json.dumps(elsewhere)}
        r = requests.post(f"{url}/api/v2/connections/test", json=attack, headers=auth, timeout=60)
        assert r.status_code == 400 and "base_url" in r.json()["detail"], r.text
        # Save is refused alike: the stored secret would go there at the next run.
        r = requests.patch(f"{url}/api/v2/connections/{conn_id}", json=attack, headers=auth, timeout=60)
        assert r.status_code == 400, r.text
        assert received == [], received
        # The stored endpoint tests with the stored secret; a secret given again goes where asked.
        same = {**saved, "password": "***", "port": 0, "extra": json.dumps(extra)}
        r = requests.post(f"{url}/api/v2/connections/test", json=same, headers=auth, timeout=60)
        assert r.status_code == 200 and r.json()["status"] is True, r.text
        retyped = {**attack, "password": "typed-again"}
        requests.post(f"{url}/api/v2/connections/test", json=retyped, headers=auth, timeout=60).raise_for_status()
        sent = [base64.b64decode(h["Authorization"].removeprefix("Basic ")).decode() for h in received]
        assert sent and all(creds == f"{sim['client_id']}:typed-again" for creds in sent), sent
    finally:
        collector.shutdown()
        requests.delete(f"{url}/api/v2/connections/{conn_id}", headers=auth, timeout=30)


def test_a_privacy_request_through_the_ui_leaves_no_email_in_airflow(stack):
    """Triggered through the API as the form does (the request body lands in Airflow's audit log),
    run by the scheduler: once done, no table of the metadata database and no task log file holds
    the request's email or user id."""

    url, token = _login(stack)
    auth = {"Authorization": f"Bearer {token}"}
    dag_id, email, user_id = "lms_connectors_erase_learners", "jane.request@example.org", "u-request-7"
    requests.patch(f"{url}/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=auth, timeout=30)
    conf = {"user_ids": [user_id], "emails": [email], "reason": "DPO-9", "dry_run": True}
    r = requests.post(
        f"{url}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}, headers=auth, timeout=30
    )
    r.raise_for_status()
    run_id = r.json()["dag_run_id"]
    deadline = time.monotonic() + 300
    while (state := next(x["state"] for x in _runs(url, token, dag_id) if x["dag_run_id"] == run_id)) != "success":
        assert state != "failed" and time.monotonic() < deadline, state
        time.sleep(3)
    home = Path(stack["local"]) / "airflow"
    found = {}
    with _metadata(stack) as db:
        columns = db.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        for table, column, kind in columns:
            # Bytes (pickles, compressed serialized DAGs) are searched as bytes, everything else as text.
            holds = (
                f"position(convert_to(%s, 'UTF8') IN \"{column}\") > 0"
                if kind == "bytea"
                else f"CAST(\"{column}\" AS TEXT) LIKE '%%' || %s || '%%'"
            )
            # The reason stays in the run's conf: the scan that finds it would find an email.
            for value in (email, user_id, conf["reason"]):
                (n,) = db.execute(f'SELECT count(*) FROM "{table}" WHERE {holds}', (value,)).fetchone()
                if n:
                    found[f"{table}.{column}: {value}"] = n
    assert found.pop(f"dag_run.conf: {conf['reason']}", 0) > 0, found
    found = {k: n for k, n in found.items() if not k.endswith(conf["reason"])}
    for path in (home / "logs").rglob("*"):
        if path.is_file() and any(v in path.read_text(errors="replace") for v in (email, user_id)):
            found[str(path)] = 1
    assert found == {}
