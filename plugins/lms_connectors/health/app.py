"""Connector health page: what a data engineer checks first, inside the Airflow UI.

For each connector of the registry: the last runs with their status and
counts, active and archived courses by reason, rejected records by rule,
unmatched learners and the learners healed, and daily active learners and completions over the last
30 days. Served by a FastAPI app that the ``lms_connector_health`` Airflow
plugin mounts in the API server and shows as a page of the UI's navigation.

Read-only: the figures come from the warehouse tables the DAGs write.
"""

# No ``from __future__ import annotations``: FastAPI resolves the routes'
# dependency annotations at runtime, and they are imported inside create_app.
import datetime as dt
import html
import logging
import re
import secrets
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.rows import dict_row

from lms_connectors.providers.registry import ConnectorSpec, load_registry
from lms_connectors.rules.paths import sql_statements
from lms_connectors.warehouse.audit import RETENTION_DEADLINE, retention_overdue

log = logging.getLogger(__name__)
WINDOW_DAYS = 30
RUN_LIMIT = 10
URL_PREFIX = "/lms-connector-health"
# A page request never waits longer on the warehouse than this (a statement; connecting has its own bound).
PAGE_STATEMENT_TIMEOUT = "30s"


def connector_health(
    conn: psycopg.Connection,
    connector_id: str,
    today: dt.date,
    window_days: int = WINDOW_DAYS,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The page's figures for one connector; the window is the ``window_days`` complete days before ``today``
    (today is still being recorded: a chart ending on it always dropped to zero)."""
    sql = sql_statements("health/connector_health.sql")
    params = {
        "connector_id": connector_id,
        "day_from": today - dt.timedelta(days=window_days),
        "day_to": today,
        "run_limit": RUN_LIMIT,
    }
    with conn.cursor(row_factory=dict_row) as cur:

        def rows(name: str) -> list[dict[str, Any]]:
            return cur.execute(sql[name], params).fetchall()

        courses = rows("courses")[0]
        unmatched = rows("unmatched")[0]
        healed = rows("healed")[0]
        retention = rows("retention")[0]["last_run"]
        pushed = rows("xapi")[0]
        at = now or dt.datetime.combine(today, dt.time(), dt.UTC)
        return {
            "connector_id": connector_id,
            "window": {"from": params["day_from"], "to": today - dt.timedelta(days=1)},
            "last_runs": rows("last_runs"),
            "latest_run": next(iter(rows("latest_run")), None),
            "courses": {
                "active": courses["active"],
                "archived": courses["archived"],
                "archived_by_reason": {r["reason"]: r["courses"] for r in rows("archived_by_reason")},
            },
            "rejected_by_rule": rows("rejected_by_rule"),
            "unmatched_learners": {"total": unmatched["learners"], "seen_in_window": unmatched["seen_in_window"]},
            "healed_learners": {
                "in_window": healed["learners"],
                "days_read": healed["days_read"],
                "pending": healed["pending"],
            },
            "xapi": {
                "newest": pushed["newest"],
                "age_minutes": None
                if pushed["newest"] is None
                else max(0, int((at - pushed["newest"]).total_seconds() // 60)),
                "stored_in_window": pushed["stored"],
                "refused_in_window": pushed["refused"],
            },
            "daily": rows("daily"),
            "retention": {"last_run": retention, "overdue": retention_overdue(retention, at)},
        }


# --- rendering (pure) -------------------------------------------------------

CHART_W, CHART_H, PAD = 720, 220, 40


def _polyline(values: list[int], top: int) -> str:
    if not values:
        return ""
    step = (CHART_W - 2 * PAD) / max(len(values) - 1, 1)
    return " ".join(
        f"{PAD + i * step:.1f},{CHART_H - PAD - (v / top) * (CHART_H - 2 * PAD):.1f}" for i, v in enumerate(values)
    )


def daily_chart(daily: list[dict[str, Any]]) -> str:
    """An inline SVG line chart (no script, no external asset: the UI may run offline)."""
    active = [int(d["active_learners"]) for d in daily]
    done = [int(d["completions"]) for d in daily]
    top = max([*active, *done, 1])
    first = daily[0]["day"].isoformat() if daily else ""
    last = daily[-1]["day"].isoformat() if daily else ""
    return f"""<svg class="chart" role="img" viewBox="0 0 {CHART_W} {CHART_H}" width="{CHART_W}" height="{CHART_H}"
  aria-label="Daily active learners and completions, {first} to {last}">
  <line x1="{PAD}" y1="{CHART_H - PAD}" x2="{CHART_W - PAD}" y2="{CHART_H - PAD}" stroke="#888"/>
  <line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{CHART_H - PAD}" stroke="#888"/>
  <text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end" font-size="11">{top}</text>
  <text x="{PAD - 4}" y="{CHART_H - PAD + 4}" text-anchor="end" font-size="11">0</text>
  <text x="{PAD}" y="{CHART_H - PAD + 16}" font-size="11">{first}</text>
  <text x="{CHART_W - PAD}" y="{CHART_H - PAD + 16}" text-anchor="end" font-size="11">{last}</text>
  <polyline class="series-active" fill="none" stroke="#1f77b4" stroke-width="2" points="{_polyline(active, top)}"/>
  <polyline class="series-completions" fill="none" stroke="#2ca02c" stroke-width="2" points="{_polyline(done, top)}"/>
  <text x="{CHART_W - PAD}" y="{PAD - 18}" text-anchor="end" font-size="12" fill="#1f77b4">active learners</text>
  <text x="{CHART_W - PAD}" y="{PAD - 4}" text-anchor="end" font-size="12" fill="#2ca02c">completions</text>
</svg>"""


class Markup(str):
    """HTML this module built itself from escaped parts: a table cell takes it as is."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _table(
    name: str, headers: tuple[str, ...], rows: list[tuple[Any, ...]], empty: str, key_attr: str | None = None
) -> str:
    """A table whose cells carry ``data-field`` names, so tests and scrapers need no layout knowledge."""
    if not rows:
        return f'<p class="empty" data-table="{name}">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    fields = [h.lower().replace(" ", "_") for h in headers]
    for row in rows:
        key = f' data-key="{html.escape(_cell(row[0]))}"' if key_attr else ""
        cells = "".join(
            f'<td data-field="{f}">{v if isinstance(v, Markup) else html.escape(_cell(v))}</td>'
            for f, v in zip(fields, row, strict=True)
        )
        body.append(f"<tr{key}>{cells}</tr>")
    return f'<table data-table="{name}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def run_links(run_key: str, status: str, error: str | None) -> str:
    """Links to the run in the Airflow UI and to the log of the task that matters (the failed one, or the report).

    Links are relative to the UI's base. Framed by the UI (``<airflow>/plugin/...``), they are
    followed by ``FOLLOW_LINKS`` in the top window: the frame's sandbox forbids ``target=_top``.
    """
    dag_id, _, run_id = run_key.partition("/")
    task = "sync_statistics"
    if status in ("failed", "rejected", "awaiting_approval"):
        head = (error or "").split(":", 1)[0].strip()
        task = head if re.fullmatch(r"[a-z_]+", head) else "sync_catalogue" if status != "failed" else "config"
    base = f"../dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return (
        f'<a data-link="run" href="{html.escape(base)}">run</a> '
        f'<a data-link="log" href="{html.escape(base)}/tasks/{html.escape(task)}">log</a>'
    )


ERROR_CHARS = 300


def error_line(error: str | None) -> str:
    """A run's error as the page shows it: its first line, cut at ``ERROR_CHARS`` (the log has the rest)."""
    lines = (error or "").strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= ERROR_CHARS else first[: ERROR_CHARS - 1] + "…"


def duration_bar(seconds: float | None, longest: float) -> str:
    """The run's duration, with a bar on one scale for the listed runs: a slow day stands out."""
    if seconds is None:
        return ""
    width = 80 * seconds / longest if longest else 0
    return (
        f'<svg class="bar" width="80" height="10" aria-hidden="true"><rect width="{width:.1f}" height="10" '
        f'fill="#1f77b4"/></svg> <span data-seconds="{seconds:.1f}">{_duration(seconds)}</span>'
    )


def _day(start: dt.datetime | None) -> dt.date | dt.datetime | None:
    """The day a run covers: its interval starts at midnight UTC (any other start is shown as it is)."""
    if start is None:
        return None
    utc = start.astimezone(dt.UTC)
    return utc.date() if utc.time() == dt.time() else utc


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _figure(name: str, label: str, value: Any) -> str:
    return f'<div class="figure"><span class="value" data-figure="{name}">{html.escape(_cell(value))}</span>{html.escape(label)}</div>'


def _retention_figure(retention: dict[str, Any]) -> str:
    last = retention["last_run"]
    if not retention["overdue"]:
        return _figure("retention_last_run", "retention last ran", last)
    hours = f"{RETENTION_DEADLINE.total_seconds() / 3600:g}"
    return (
        f'<div class="figure overdue"><span class="value" data-figure="retention_last_run">'
        f"{html.escape(_cell(last) or 'never')}</span>retention last ran: overdue (more than {hours} h), "
        "learner data outlives its retention; see the DAG lms_connectors_retention</div>"
    )


def _xapi_figures(pushed: dict[str, Any]) -> str:
    """How fresh the statements the provider pushes are; nothing for a connector that never pushed."""
    if pushed["newest"] is None:
        return ""
    age = pushed["age_minutes"]
    newest = f"{age} min ago" if age < 120 else f"{age // 60} h ago" if age < 48 * 60 else f"{age // 1440} days ago"
    return "\n".join(
        (
            _figure("xapi_newest", "newest xAPI statement stored", newest),
            _figure("xapi_stored", f"xAPI statements stored, last {WINDOW_DAYS} days", pushed["stored_in_window"]),
            _figure("xapi_refused", f"xAPI statements refused, last {WINDOW_DAYS} days", pushed["refused_in_window"]),
        )
    )


def render_connector(spec: ConnectorSpec, h: dict[str, Any]) -> str:
    longest = max((r.get("duration_seconds") or 0 for r in h["last_runs"]), default=0)
    runs = [
        (
            _day(r["interval_start"]),
            r["status"],
            r["started_at"],
            Markup(duration_bar(r.get("duration_seconds"), longest)),
            r["courses_seen"],
            r["courses_created"],
            r["courses_updated"],
            r["courses_archived"],
            r["activity_records"],
            r["progress_rows"],
            r.get("daily_rows"),
            r["matched_learners"],
            r["unmatched_learners"],
            r["rejected"],
            error_line(r.get("error")),
            Markup(run_links(r.get("run_id") or "", r["status"], r.get("error"))),
        )
        for r in h["last_runs"]
    ]
    latest = h["latest_run"]
    status = latest["status"] if latest else "never run"
    latest_error = error_line(latest.get("error")) if latest else ""
    said = (
        f' <span class="last-error" data-figure="last_error">{html.escape(latest_error)}</span>' if latest_error else ""
    )
    reasons = sorted(h["courses"]["archived_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))
    rejected = [(r["entity"], r["rule"], r["records"], r["runs"]) for r in h["rejected_by_rule"]]
    daily = [(d["day"], d["active_learners"], d["completions"]) for d in h["daily"]]
    window = f"{h['window']['from'].isoformat()} to {h['window']['to'].isoformat()}"
    return f"""<section class="connector" data-connector="{html.escape(spec.id)}">
<h2>{html.escape(spec.id)} <span class="status status-{html.escape(status.replace(" ", "-"))}" data-figure="last_status">{html.escape(status)}</span>{said}</h2>
<p class="meta">DAG <code>{html.escape(spec.dag_id)}</code> &middot; settings Variable <code>{html.escape(spec.variable)}</code></p>
<div class="figures">
{_figure("active_courses", "active courses", h["courses"]["active"])}
{_figure("archived_courses", "archived courses", h["courses"]["archived"])}
{_figure("unmatched_learners", "unmatched learners (all time)", h["unmatched_learners"]["total"])}
{_figure("unmatched_learners_window", f"unmatched learners seen, last {WINDOW_DAYS} days", h["unmatched_learners"]["seen_in_window"])}
{_figure("healed_learners", f"learners healed, last {WINDOW_DAYS} days", h["healed_learners"]["in_window"])}
{_figure("healed_days_read", f"days read again to heal them, last {WINDOW_DAYS} days", h["healed_learners"]["days_read"])}
{_figure("healing_pending", "learners whose healing awaits approve_healing", h["healed_learners"]["pending"])}
{_retention_figure(h["retention"])}
{_xapi_figures(h["xapi"])}
</div>
<h3>Last runs</h3>
{_table("runs", ("Day", "Status", "Started", "Duration", "Courses seen", "Created", "Updated", "Archived", "Activity records", "Progress rows written", "Day rows written", "Matched learners", "Unmatched learners", "Rejected", "Error", "Airflow"), runs, "No run recorded yet.", key_attr="interval")}
<h3>Archived courses by reason</h3>
{_table("archived_by_reason", ("Reason", "Courses"), reasons, "No archived course.", key_attr="reason")}
<h3>Rejected records by rule, last {WINDOW_DAYS} days</h3>
{_table("rejected_by_rule", ("Entity", "Rule", "Records", "Runs"), rejected, "No rejected record.")}
<h3>Daily active learners and completions, {html.escape(window)}</h3>
{daily_chart(h["daily"])}
<details><summary>Figures of the chart</summary>
{_table("daily", ("Day", "Active learners", "Completions"), daily, "No day in the window.", key_attr="day")}
</details>
</section>"""


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.figures { display: flex; gap: 1.5rem; flex-wrap: wrap; }
.figure { display: flex; flex-direction: column; font-size: 0.85rem; }
.figure .value { font-size: 1.6rem; font-weight: 600; }
.status { font-size: 0.9rem; padding: 0.1rem 0.5rem; border-radius: 0.8rem; background: #eee; }
.status-success { background: #d4edda; } .status-failed { background: #f8d7da; }
.status-running { background: #fff3cd; }
.last-error { font-size: 0.85rem; font-weight: normal; color: #a00; }
.error { color: #a00; }
.overdue { color: #a00; }
"""


# Airflow 3.3 frames plugin pages in <iframe sandbox="allow-scripts allow-same-origin ...">: no
# allow-top-navigation nor allow-popups, so a link cannot navigate the top window or open a tab.
# Same-origin script access is allowed: the link is pushed onto the UI's history and the UI's
# router (React Router, which listens to popstate) renders it, as if clicked in the UI itself.
FOLLOW_LINKS = """
document.addEventListener('click', function (e) {
  var a = e.target.closest ? e.target.closest('a[data-link]') : null;
  if (!a || window.top === window || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  var url = new URL(a.getAttribute('href'), window.location.href);
  try {
    var top = window.top, state = top.history.state;
    var idx = state && typeof state.idx === 'number' ? state.idx + 1 : 0;
    top.history.pushState({usr: null, key: Math.random().toString(36).slice(2, 10), idx: idx}, '',
                          url.pathname + url.search + url.hash);
    top.dispatchEvent(new PopStateEvent('popstate', {state: top.history.state}));
    e.preventDefault();
  } catch (err) {
    console.warn('LMS connector health: cannot reach the Airflow UI window', err);
  }
});
"""


def render_page(sections: list[str], today: dt.date) -> str:
    body = "\n".join(sections) or "<p>No connector is visible to you.</p>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>LMS connector health</title><style>{STYLE}</style><script>{FOLLOW_LINKS}</script></head>
<body><h1>LMS connector health</h1><p class="meta">As of {today.isoformat()} (UTC). Figures from the warehouse tables the DAGs write.</p>
{body}</body></html>"""


# --- the app ----------------------------------------------------------------


def visible_connectors(user: Any) -> list[ConnectorSpec]:
    """The connectors whose DAG the signed-in user may read (the Airflow auth manager decides)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    manager = get_auth_manager()
    return [
        spec
        for spec in load_registry()
        if manager.is_authorized_dag(method="GET", user=user, details=DagDetails(id=spec.dag_id))
    ]


class LazyApp:
    """An ASGI app that builds the real one on its first request.

    Airflow imports plugin modules in every process that integrates plugins,
    each task process included; FastAPI and Airflow's API security module
    cost about 2 s to import, which only the API server should pay.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


def create_app() -> Any:
    from airflow.api_fastapi.core_api.security import GetUserDep
    from airflow.exceptions import AirflowNotFoundException
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    from lms_connectors.warehouse.db import connect

    # No interactive docs or schema: the page serves people signed in to Airflow, nothing else.
    app = FastAPI(title="LMS connector health", docs_url=None, redoc_url=None, openapi_url=None)

    def figures(user: Any, today: dt.date) -> list[tuple[ConnectorSpec, dict[str, Any] | str]]:
        out: list[tuple[ConnectorSpec, dict[str, Any] | str]] = []
        for spec in visible_connectors(user):
            try:
                # A login that may only read (lms_monitor), in read-only transactions.
                with connect(spec.readonly_conn_id, statement_timeout=PAGE_STATEMENT_TIMEOUT) as conn:
                    conn.read_only = True
                    out.append((spec, connector_health(conn, spec.id, today, now=dt.datetime.now(dt.UTC))))
            except (psycopg.Error, AirflowNotFoundException) as exc:
                # One unreachable warehouse must not hide the other connectors. Connection
                # details stay in the server's log: the page shows a reference to them.
                ref = secrets.token_hex(4)
                log.warning("health page: warehouse of %s not readable (ref %s): %r", spec.id, ref, exc)
                out.append((spec, f"the warehouse could not be read (reference {ref} in the API server's log)"))
        return out

    @app.get("/", response_class=HTMLResponse)
    def page(user: GetUserDep) -> str:
        today = dt.datetime.now(dt.UTC).date()
        sections = [
            render_connector(spec, h)
            if isinstance(h, dict)
            else f'<section class="connector" data-connector="{html.escape(spec.id)}"><h2>{html.escape(spec.id)}</h2>'
            f'<p class="error">Warehouse not readable: {html.escape(h)}</p></section>'
            for spec, h in figures(user, today)
        ]
        return render_page(sections, today)

    @app.get("/api/connectors")
    def api(user: GetUserDep) -> dict[str, Any]:
        today = dt.datetime.now(dt.UTC).date()
        return {
            "as_of": today,
            "connectors": [
                {"connector_id": spec.id, **h} if isinstance(h, dict) else {"connector_id": spec.id, "error": h}
                for spec, h in figures(user, today)
            ],
        }

    return app
