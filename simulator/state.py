"""Mutable simulator state: the seeded data plus scenario changes and faults."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import threading
import time
from typing import Any

import numpy as np

from simulator import data

COURSE_FIELDS = ("title", "description", "language", "status", "duration", "url", "image_url")
# How the provider keeps learning activity: every update, or each learner and course's latest state.
HISTORY_MODES = ("snapshots", "latest")


@dataclasses.dataclass
class Faults:
    """Fault injection knobs. Rates are shares of data requests (0-1); bursts
    hit the next N data requests deterministically, which is what tests want."""

    error_rate: float = 0.0
    error_burst: int = 0
    error_status: int = 503
    rate_limit_rate: float = 0.0
    rate_limit_burst: int = 0
    retry_after: float = 1.0
    reset_burst: int = 0
    malformed_json_burst: int = 0
    malformed_json_rate: float = 0.0
    malformed_share: float = 0.0
    # Share of listed records followed by a hostile twin (simulator.hostile).
    hostile_share: float = 0.0
    total_offset: int = 0
    # The next N data responses announce one item more than the listing holds.
    total_change_burst: int = 0
    overlap_pages: bool = False
    # A Range server may serve fewer items than asked: at most this many a page (0: its own maximum).
    max_page_items: int = 0
    # The next N data responses send their body in small pieces, trickle_delay_ms apart.
    trickle_burst: int = 0
    trickle_delay_ms: int = 50
    latency_ms: int = 0
    token_lifetime: int = 3600
    token_max_uses: int = 0  # 0 = unlimited; else a token dies after N data calls
    # Report jobs (providers whose activity is one): status answers "in progress" before the report.
    report_polls: int = 1
    # The next N report requests create their job, then answer 500 (the client cannot tell it was made).
    report_submit_failures: int = 0
    # A report request's answer names this id instead of the job's ("": the job's own).
    report_id: str = ""
    # Late data: activity is published this many hours after it happened (the clock is as_of, or now).
    data_lag_hours: float = 0.0

    def update(self, values: dict[str, Any]) -> None:
        names = {f.name: f.type for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        for key, value in values.items():
            current = getattr(self, key)
            setattr(self, key, type(current)(value))


@dataclasses.dataclass
class Token:
    expires_at: float
    uses: int = 0


class SimState:
    def __init__(self, cfg: data.SimConfig) -> None:
        self.cfg = cfg
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        cfg = self.cfg
        self.courses: dict[str, dict[str, Any]] = {c["id"]: c for c in data.build_courses(cfg)}
        self.initial_course_ids = list(self.courses)
        self.learners = data.build_learners(cfg)
        self.activity = data.build_activity(cfg, self.learners, self.initial_course_ids)
        minutes = np.array(
            [_iso_minutes(self.courses[cid]["duration"]) for cid in self.initial_course_ids], dtype=float
        )
        self.seconds = data.seconds_viewed(cfg, self.activity, minutes)
        self.extra_activity: list[dict[str, Any]] = []
        self.faults = Faults()
        # Bumped by every change of the faults (and by a reset): a request that outlived its faults is stale.
        self.fault_epoch = getattr(self, "fault_epoch", 0) + 1
        self.history = cfg.activity_history
        self.as_of: int | None = None
        self.tokens: dict[str, Token] = {}
        self.counters: dict[str, int] = {"token": 0, "data": 0, "faulted": 0, "report_jobs": 0}
        # Hostile records in the listings last served, by listing (courses, activity:<since>/<until>).
        self.hostile_listed: dict[str, dict[str, int]] = {}
        # Listings held for stateful paging (a snapshot per paging request id): a reset expires them.
        self.paging_snapshots: dict[str, tuple[float, list[Any]]] = {}
        self._rng = np.random.default_rng([cfg.seed, 99])

    # --- auth -------------------------------------------------------------
    def issue_token(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(24)
        lifetime = self.faults.token_lifetime
        self.tokens[token] = Token(expires_at=time.monotonic() + lifetime)
        self.counters["token"] += 1
        return token, lifetime

    def check_token(self, token: str) -> bool:
        tok = self.tokens.get(token)
        if tok is None or tok.expires_at <= time.monotonic():
            return False
        if self.faults.token_max_uses and tok.uses >= self.faults.token_max_uses:
            return False
        tok.uses += 1
        return True

    # --- faults -----------------------------------------------------------
    def draw_fault(self) -> str | None:
        """Which fault (if any) the current data request gets."""
        f = self.faults
        self.counters["data"] += 1
        fault = None
        if f.rate_limit_burst > 0:
            f.rate_limit_burst -= 1
            fault = "429"
        elif f.error_burst > 0:
            f.error_burst -= 1
            fault = "5xx"
        elif f.reset_burst > 0:
            f.reset_burst -= 1
            fault = "reset"
        elif f.malformed_json_burst > 0:
            f.malformed_json_burst -= 1
            fault = "malformed_json"
        elif f.trickle_burst > 0:
            f.trickle_burst -= 1
            fault = "trickle"
        elif f.malformed_json_rate and self._rng.random() < f.malformed_json_rate:
            fault = "malformed_json"
        elif f.rate_limit_rate and self._rng.random() < f.rate_limit_rate:
            fault = "429"
        elif f.error_rate and self._rng.random() < f.error_rate:
            fault = "5xx"
        if fault:
            self.counters["faulted"] += 1
        return fault

    # --- catalogue --------------------------------------------------------
    def course_list(self) -> list[dict[str, Any]]:
        return sorted(self.courses.values(), key=lambda c: c["id"])

    def change_course(self, course_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        course = self.courses[course_id]
        bad = sorted(set(changes) - set(COURSE_FIELDS))
        if bad:
            raise ValueError(f"cannot change field(s): {', '.join(bad)}")
        course.update(changes)
        course["updated_at"] = changes.get("updated_at") or data.rfc3339(time.time())
        return course

    def add_course(self, fields: dict[str, Any]) -> dict[str, Any]:
        cid = str(fields.get("id") or max(int(c) for c in self.courses or ["1000000"]) + 1)
        if cid in self.courses:
            raise ValueError(f"course {cid} already exists")
        course = {
            "id": cid,
            "title": "New course",
            "description": "",
            "language": "en",
            "status": "active",
            "duration": "PT2H",
            "url": f"https://openclassrooms.com/en/courses/{cid}",
            "image_url": None,
            "updated_at": data.rfc3339(time.time()),
        }
        course.update({k: v for k, v in fields.items() if k in (*COURSE_FIELDS, "updated_at")})
        self.courses[cid] = course
        return course

    # --- learning activity ------------------------------------------------
    def activity_bounds(self, since: int, until: int) -> tuple[int, int]:
        lo = int(np.searchsorted(self.activity.updated, since, "left"))
        hi = int(np.searchsorted(self.activity.updated, until, "left"))
        return lo, hi

    def format_activity(self, lo: int, hi: int) -> list[dict[str, Any]]:
        return self.format_records(slice(lo, hi))

    def seconds_of(self, which: slice | np.ndarray) -> list[float]:
        """Seconds viewed of the same records as :meth:`format_records`."""
        return self.seconds[which].tolist()

    def format_records(self, which: slice | np.ndarray) -> list[dict[str, Any]]:
        """Records as the provider serves them, for a slice or an array of indices of the activity."""
        act = self.activity
        upd = _fmt_ts(act.updated[which])
        started = _fmt_ts(act.started[which])
        completed_raw = act.completed[which]
        completed = _fmt_ts(np.where(completed_raw < 0, 0, completed_raw))
        display = self.learners.display
        ids = self.initial_course_ids
        learners = act.learner[which].tolist()
        courses = act.course[which].tolist()
        progress = act.progress[which].tolist()
        done = (completed_raw >= 0).tolist()
        return [
            {
                "learner_email": display[learners[i]],
                "course_id": ids[courses[i]],
                "progress": progress[i],
                "started_at": started[i],
                "completed_at": completed[i] if done[i] else None,
                "updated_at": upd[i],
            }
            for i in range(len(upd))
        ]

    # --- history models ---------------------------------------------------
    def set_history(self, mode: str, as_of: str | None) -> None:
        if mode not in HISTORY_MODES:
            raise ValueError(f"history mode must be one of {', '.join(HISTORY_MODES)}, got {mode!r}")
        self.history = mode
        self.as_of = parse_rfc3339(as_of) if as_of else None

    def plain_activity(self) -> bool:
        """True when an interval's records are one slice of the seeded arrays (the fast path)."""
        return (
            self.history == "snapshots"
            and self.as_of is None
            and not self.extra_activity
            and not self.faults.data_lag_hours
        )

    def data_clock(self) -> int:
        """Until when the provider has published activity: its clock (``as_of``, or now) less the
        publication lag (fault ``data_lag_hours``); with neither, every record exists."""
        lag = self.faults.data_lag_hours
        if self.as_of is None and not lag:
            return int(np.iinfo(np.int64).max)
        clock = self.as_of if self.as_of is not None else int(time.time())
        return clock - int(lag * 3600)

    def activity_listing(self, since: int, until: int, with_seconds: bool = False) -> list[dict[str, Any]]:
        """Every record the provider reports for [since, until), in contract order.

        ``snapshots``: every update ever made. ``latest``: only each learner and
        course's latest update, so an old interval replayed later reports
        fewer records. Either way nothing later than the clock (``as_of``, less the publication lag)
        exists.
        ``with_seconds``: each record also carries ``seconds_viewed`` (an added
        record's own, else 0).
        """
        clock = self.data_clock()
        until = min(until, clock)
        if self.history == "latest":
            base, extra = self._latest(clock)
            idx = base[(self.activity.updated[base] >= since) & (self.activity.updated[base] < until)]
            extra = [r for r in extra if since <= r["_ts"] < until]
        else:
            lo, hi = self.activity_bounds(since, until)
            idx, extra = np.arange(lo, hi), self.extra_in_range(since, until)
        base = self.format_records(idx)
        if with_seconds:
            for record, seconds in zip(base, self.seconds_of(idx), strict=True):
                record["seconds_viewed"] = seconds
        added = [{k: v for k, v in r.items() if k != "_ts" and (with_seconds or k != "seconds_viewed")} for r in extra]
        if with_seconds:
            for record in added:
                record.setdefault("seconds_viewed", 0)
        merged = base + added
        merged.sort(key=lambda r: (r["updated_at"], r["learner_email"], r["course_id"]))
        return merged

    def _latest(self, clock: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Indices of the seeded records, and added records, that are their key's latest before ``clock``."""
        act = self.activity
        n = int(np.searchsorted(act.updated, clock, "left"))
        keys = act.learner[:n].astype(np.int64) * max(len(self.initial_course_ids), 1) + act.course[:n]
        # The last occurrence of each key in time order is its latest state.
        _, first_in_reversed = np.unique(keys[::-1], return_index=True)
        last = np.sort(n - 1 - first_in_reversed)
        extras = [r for r in self.extra_activity if r["_ts"] < clock]
        if not extras:
            return last, []
        newest: dict[tuple[str, str], tuple[int, int]] = {}
        for pos, r in enumerate(extras):
            key = (str(r["learner_email"]).lower(), str(r["course_id"]))
            if key not in newest or r["_ts"] >= newest[key][0]:
                newest[key] = (r["_ts"], pos)
        emails = self.learners.emails
        ids = self.initial_course_ids
        hidden = np.array(
            [
                (emails[act.learner[i]], ids[act.course[i]]) in newest
                and newest[(emails[act.learner[i]], ids[act.course[i]])][0] >= act.updated[i]
                for i in last
            ],
            dtype=bool,
        )
        base_latest = {(emails[act.learner[i]], ids[act.course[i]]): int(act.updated[i]) for i in last}
        kept_extras = [
            extras[pos] for key, (ts, pos) in newest.items() if ts >= base_latest.get(key, np.iinfo(np.int64).min)
        ]
        return last[~hidden], kept_extras

    def extra_in_range(self, since: int, until: int) -> list[dict[str, Any]]:
        # Added records, oldest first (add_activity keeps them sorted).
        return [r for r in self.extra_activity if since <= r["_ts"] < until]

    def add_activity(self, records: list[dict[str, Any]]) -> int:
        required = {"learner_email", "course_id", "progress", "updated_at"}
        for rec in records:
            missing = required - set(rec)
            if missing:
                raise ValueError(f"activity record lacks {', '.join(sorted(missing))}")
            ts = parse_rfc3339(rec["updated_at"])
            self.extra_activity.append(
                {
                    # Fields outside the contract are served too: a provider may add some.
                    **{k: v for k, v in rec.items() if k != "_ts"},
                    "learner_email": rec["learner_email"],
                    "course_id": str(rec["course_id"]),
                    "progress": rec["progress"],
                    "started_at": rec.get("started_at"),
                    "completed_at": rec.get("completed_at"),
                    "updated_at": rec["updated_at"],
                    "_ts": ts,
                }
            )
        self.extra_activity.sort(key=lambda r: (r["_ts"], r["learner_email"], r["course_id"]))
        return len(records)

    def state_summary(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for c in self.courses.values():
            statuses[c["status"]] = statuses.get(c["status"], 0) + 1
        cfg = self.cfg
        return {
            "config": {
                "seed": cfg.seed,
                "courses": cfg.courses,
                "learners": cfg.learners,
                "start_date": cfg.start_date.isoformat(),
                "days": cfg.days,
                "organization_id": cfg.organization_id,
            },
            "courses": len(self.courses),
            "courses_by_status": statuses,
            "activity_records": len(self.activity) + len(self.extra_activity),
            "activity_first": data.rfc3339(self.activity.updated[0]) if len(self.activity) else None,
            "activity_last": data.rfc3339(self.activity.updated[-1]) if len(self.activity) else None,
            "history": {"mode": self.history, "as_of": data.rfc3339(self.as_of) if self.as_of is not None else None},
            "faults": dataclasses.asdict(self.faults),
            "counters": dict(self.counters),
            "hostile_listed": self.hostile_listed,
        }


def _fmt_ts(values: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(values.astype("datetime64[s]"), unit="s").tolist()]


def parse_rfc3339(value: str) -> int:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return int(parsed.timestamp())


def _iso_minutes(value: Any) -> float:
    """Minutes of the world's ISO 8601 durations (days, hours, minutes); 0 when unreadable."""
    import re

    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", str(value))
    if not m:
        return 0.0
    days, hours, minutes = (int(g or 0) for g in m.groups())
    return float(days * 1440 + hours * 60 + minutes)
