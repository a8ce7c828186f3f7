"""Alerts reach a local webhook and a local SMTP server; without the Connection they are off."""

from __future__ import annotations

import datetime as dt
import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.builders import DAY1, PROVIDERS

pytestmark = pytest.mark.integration


@pytest.fixture
def webhook() -> Iterator[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "auth": self.headers.get("Authorization"), **json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"port": server.server_address[1], "received": received}
    server.shutdown()


@pytest.fixture
def smtp_sink() -> Iterator[dict[str, Any]]:
    """Just enough SMTP to accept one message at a time."""
    messages: list[str] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 sink\r\n")
            data: list[bytes] = []
            in_data = False
            for line in self.rfile:
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        messages.append(b"".join(data).decode())
                        self.wfile.write(b"250 queued\r\n")
                    else:
                        data.append(line)
                    continue
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    self.wfile.write(b"250 sink\r\n")
                elif verb == b"DATA":
                    in_data = True
                    self.wfile.write(b"354 go\r\n")
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"port": server.server_address[1], "messages": messages}
    server.shutdown()


def _fail_config(monkeypatch, profile) -> None:
    monkeypatch.setenv(profile.var_env, "{not json")


def test_a_failed_run_posts_one_alert_to_the_webhook(dags, profile, airflow_env, monkeypatch, webhook, sim):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LMS_ALERTS",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": webhook["port"],
                "schema": "http",
                "password": "hook-token",
                "extra": {"path": "/hooks/lms"},
            }
        ),
    )
    _fail_config(monkeypatch, profile)
    assert dags.run(DAY1) == "failed"
    (alert,) = webhook["received"]
    assert alert["path"] == "/hooks/lms" and alert["auth"] == "Bearer hook-token"
    assert alert["dag_id"] == profile.dag_id and alert["task_id"] == "config"
    assert alert["interval_start"] == f"{DAY1.isoformat()}T00:00:00+00:00"
    assert "SettingsError" in alert["error"]
    assert alert["text"].startswith(f"[LMS connector] {profile.dag_id}: config failed for {DAY1}")
    # No credential travels in an alert.
    assert sim.client_secret not in json.dumps(alert)


def test_alerts_by_email_through_the_smtp_connection(dags, profile, airflow_env, monkeypatch, smtp_sink):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LMS_ALERTS",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_sink["port"],
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "airflow@example.com",
                    "to": "data@example.com",
                },
            }
        ),
    )
    _fail_config(monkeypatch, profile)
    assert dags.run(DAY1) == "failed"
    (message,) = smtp_sink["messages"]
    assert "data@example.com" in message
    assert f"{profile.dag_id}: config failed for {DAY1}" in message


def test_without_the_connection_alerts_are_off_and_say_nothing(dags, profile, airflow_env, monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_LMS_ALERTS", raising=False)
    _fail_config(monkeypatch, profile)
    with caplog.at_level("INFO"):
        assert dags.run(DAY1) == "failed"
    assert "alert" not in caplog.text.lower().replace("alerts are off", "")


def test_a_day_not_synced_by_its_deadline_alerts_once(dagbag, dags, profile, airflow_env, monkeypatch, webhook):
    """The hourly deadline DAG: the day whose deadline (end of day + deadline_hours, 6 by default) fell
    in the past hour and has no successful run alerts; once synced, or outside that hour, nothing."""
    from lms_connectors.orchestration.alerts import day_due

    monkeypatch.setenv(
        "AIRFLOW_CONN_LMS_ALERTS",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": webhook["port"], "schema": "http"}),
    )
    watchdog = dagbag.get_dag("lms_connectors_deadlines")
    deadline = dt.datetime.combine(DAY1 + dt.timedelta(days=1), dt.time(6), dt.UTC)
    assert day_due(deadline, 6) == DAY1
    assert day_due(deadline - dt.timedelta(hours=1), 6) is None  # that hour checks no deadline of ours
    assert watchdog.test(logical_date=deadline).state == "success"
    late = {alert["connector_id"]: alert for alert in webhook["received"] if "connector_id" in alert}
    assert set(late) == set(PROVIDERS)  # none has run
    # Nor has retention ever purged the warehouse: said once a day, in the hour after 06:00 UTC.
    (retention,) = [alert for alert in webhook["received"] if alert["dag_id"] == "lms_connectors_retention"]
    assert "has not purged the warehouse ever" in retention["summary"]
    assert late[profile.provider]["summary"] == (
        f"{profile.dag_id}: the sync of {DAY1} has not succeeded by {DAY1 + dt.timedelta(days=1)} 06:00 UTC"
    )
    # The next hour's check does not repeat it, and a synced day is not late.
    webhook["received"].clear()
    assert watchdog.test(logical_date=deadline + dt.timedelta(hours=1)).state == "success"
    assert webhook["received"] == []
    assert dags.run(DAY1) == "success"
    assert watchdog.test(logical_date=deadline + dt.timedelta(minutes=1)).state == "success"
    assert {a["connector_id"] for a in webhook["received"] if "connector_id" in a} == set(PROVIDERS) - {
        profile.provider
    }
