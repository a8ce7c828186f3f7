"""The pieces of the hostile-record property test that are not about one provider's shapes: the
classes of hostile value, one pipeline run on one page of each listing, the comparison with a clean
run, hypothesis settings. A helper module, not a test module.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import os
from typing import Any
from unittest import mock

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from lms_connectors import pipeline
from lms_connectors.pipeline import catalogue, lifecycle
from lms_connectors.privacy import pseudonym
from lms_connectors.rules.context import RunContext
from lms_connectors.rules.jsonpage import decode_array
from tests.builders import TEST_KEY, artifacts_dir

DAY = dt.date(2026, 11, 4)
START = dt.datetime.combine(DAY, dt.time(), dt.UTC)
END = START + dt.timedelta(days=1)
EXAMPLES = int(os.environ.get("LMS_HOSTILE_EXAMPLES", "30"))


@dataclasses.dataclass(frozen=True)
class Hostile:
    """One hostile record as raw JSON text, the class it belongs to and the reason it must get."""

    cls: str
    body: bytes
    reason: str


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


def dumps(value: Any) -> bytes:
    """JSON text as a permissive encoder writes it: lone surrogates escaped, NaN and Infinity as literals."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def splice(record: dict[str, Any], field: str, raw: bytes) -> bytes:
    marker = "\x01spliced\x01"
    return dumps({**record, field: marker}).replace(dumps(marker), raw)


def nul_or_surrogate_or_control(fields: list[str], text_fields: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    """(field, value): a value holding one character the guard refuses for that field."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, str]:
        field = draw(st.sampled_from(fields + text_fields))
        allowed_in_text = {"\t", "\n", "\r"}
        bad = draw(
            st.one_of(
                st.just("\x00"),
                st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                st.sampled_from([chr(c) for c in [*range(0x20), 0x7F]]).filter(
                    lambda ch: field not in text_fields or ch not in allowed_in_text
                ),
            )
        )
        return field, draw(SAFE_TEXT) + bad + draw(SAFE_TEXT)

    return build()


def not_an_object() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(), SAFE_TEXT, st.lists(st.integers(), max_size=3))


# --- the pipeline -----------------------------------------------------------------------


@dataclasses.dataclass
class OnePage:
    """A provider client that serves one page of each listing, as raw JSON text decoded by the
    client's own page decoder."""

    courses: bytes
    activity: bytes
    stats: dict[str, int] = dataclasses.field(default_factory=lambda: {"requests": 0, "retries": 0})

    def iter_course_pages(self) -> Any:
        yield decode_array(self.courses)[0]

    def iter_activity_pages(self, since: Any, until: Any) -> Any:
        yield decode_array(self.activity)[0]


def run_pipeline(
    conn: psycopg.Connection, connector: str, courses: bytes, activity: bytes, cfg: Any, provider: Any
) -> None:
    """One DAG run's steps, as the pipeline declares them, on one page of each listing."""
    ctx = RunContext(
        run_key=f"hostile/{connector}", connector_id=connector, interval_start=START, interval_end=END, settings=cfg
    )
    client = OnePage(courses, activity)
    source = pipeline.Connector(
        connector, provider, lambda: client, lambda c: pseudonym.keys_for(c, TEST_KEY.encode(), connector)
    )
    lifecycle.begin(conn, ctx, "hostile")
    for step in pipeline.ALL_STEPS:
        pipeline.run(step, conn, ctx, source)


def page(records: list[bytes]) -> bytes:
    return b"[" + b",".join(records) + b"]"


TARGETS = {
    "courses": """SELECT provider_course_id, group_id, author_email, title, description, language, provider_status,
                         duration_minutes, launch_url, image_url, provider_updated_at, archive_reasons, last_synced_at
                  FROM lms.courses WHERE connector_id = %s ORDER BY 1""",
    "catalogue": """SELECT c.provider_course_id, g.in_catalogue, g.in_library FROM lms.group_catalogue g
                    JOIN lms.courses c USING (lms_course_id) WHERE c.connector_id = %s ORDER BY 1""",
    "progress": """SELECT c.provider_course_id, p.user_id, p.progress_pct, p.time_spent_minutes, p.started_at,
                          p.completed_at, p.provider_updated_at
                   FROM stats.course_progress p JOIN lms.courses c USING (lms_course_id)
                   WHERE c.connector_id = %s ORDER BY 1, 2""",
    "daily": """SELECT d.activity_date, c.provider_course_id, d.user_id, d.progress_pct, d.time_spent_minutes,
                       d.completed_at, d.provider_updated_at
                FROM stats.course_progress_daily d JOIN lms.courses c USING (lms_course_id)
                WHERE c.connector_id = %s ORDER BY 1, 2, 3""",
}


def targets(conn: psycopg.Connection, connector: str) -> dict[str, list]:
    return {name: conn.execute(sql, (connector,)).fetchall() for name, sql in TARGETS.items()}


@dataclasses.dataclass(frozen=True)
class World:
    """The module's database, clean records and clean-run targets (a short repr for failure reports)."""

    warehouse: Any = dataclasses.field(repr=False)
    courses: list[dict[str, Any]] = dataclasses.field(repr=False)
    activity: list[dict[str, Any]] = dataclasses.field(repr=False)
    cfg: Any = dataclasses.field(repr=False)
    reference: dict[str, list] = dataclasses.field(repr=False)


def run_example(
    w: World,
    connector: str,
    bad_courses: list[Hostile],
    bad_activity: list[Hostile],
    data: st.DataObject,
    provider: Any,
    tried: collections.Counter[str],
) -> list[tuple]:
    """One example: the hostile records placed among the clean ones (where ``data`` draws), the
    pipeline run for ``connector``; asserts that the clean records load exactly as in the clean run
    and that each hostile one is quarantined with its reason and a detail. Returns the quarantine
    (entity, reason, detail, record as text) for the caller's own checks."""
    course_bodies = list(map(dumps, w.courses))
    activity_bodies = list(map(dumps, w.activity))
    for h in bad_courses:
        course_bodies.insert(data.draw(st.integers(0, len(course_bodies))), h.body)
    for h in bad_activity:
        activity_bodies.insert(data.draw(st.integers(0, len(activity_bodies))), h.body)

    # The course rules run chunk by chunk: any chunk size gives the clean run's targets (at most
    # eight chunks: each is a great-expectations run).
    chunk = data.draw(st.integers(max(1, len(course_bodies) // 8), catalogue.VALIDATE_CHUNK_ROWS), label="chunk")
    with (
        mock.patch.object(catalogue, "VALIDATE_CHUNK_ROWS", chunk),
        psycopg.connect(w.warehouse.sync_dsn) as conn,
    ):
        run_pipeline(conn, connector, page(course_bodies), page(activity_bodies), w.cfg, provider)
        got = targets(conn, connector)
        rejected = conn.execute(
            "SELECT entity, reason, detail, record::text FROM ops.rejected_records WHERE connector_id = %s",
            (connector,),
        ).fetchall()
    for h in bad_courses:
        tried[f"course/{h.cls}"] += 1
    for h in bad_activity:
        tried[f"activity/{h.cls}"] += 1

    hostile = [h.cls for h in bad_courses + bad_activity]
    for name, rows in w.reference.items():
        extra = set(map(repr, got[name])) - set(map(repr, rows))
        missing = set(map(repr, rows)) - set(map(repr, got[name]))
        assert not extra and not missing, (
            f"{name}: {len(extra)} rows not in the clean run, e.g. {sorted(extra)[:2]}; "
            f"{len(missing)} missing, e.g. {sorted(missing)[:2]}; hostile: {hostile}"
        )
    assert got == w.reference
    assert sorted(r[1] for r in rejected if r[0] == "course") == sorted(h.reason for h in bad_courses), hostile
    assert sorted(r[1] for r in rejected if r[0] == "progress") == sorted(h.reason for h in bad_activity), hostile
    assert all(r[2] for r in rejected), "every quarantined record says why"
    return rejected


# Generation only (no shrinking: an example costs a pipeline run); every failing example reported.
HOSTILE_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.generate],
    report_multiple_bugs=True,
)
# pytest-timeout's 300 s is for one test of the default size; each example is a pipeline run
# (about half a second on two cores), so a larger LMS_HOSTILE_EXAMPLES gets its own bound.
HOSTILE_TIMEOUT = pytest.mark.timeout(max(300, 3 * EXAMPLES))


def write_tried(name: str, tried: collections.Counter[str]) -> None:
    """The records tried per class, as JSON in the artifacts folder, and printed."""
    path = artifacts_dir() / f"{name}.json"
    path.write_text(json.dumps(dict(sorted(tried.items())), indent=2))
    print(f"\n{name.replace('_', ' ')} tried per class: {dict(sorted(tried.items()))} ({path})")
