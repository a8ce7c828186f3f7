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
    malformed_share: float = 0.0
    total_offset: int = 0
    overlap_pages: bool = False
    latency_ms: int = 0
    token_lifetime: int = 3600
    token_max_uses: int = 0  # 0 = unlimited; else a token dies after N data calls

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
        self.extra_activity: list[dict[str, Any]] = []
        self.faults = Faults()
        self.tokens: dict[str, Token] = {}
        self.counters: dict[str, int] = {"token": 0, "data": 0, "faulted": 0}
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
        act = self.activity
        upd = _fmt_ts(act.updated[lo:hi])
        started = _fmt_ts(act.started[lo:hi])
        completed_raw = act.completed[lo:hi]
        completed = _fmt_ts(np.where(completed_raw < 0, 0, completed_raw))
        display = self.learners.display
        ids = self.initial_course_ids
        learners = act.learner[lo:hi].tolist()
        courses = act.course[lo:hi].tolist()
        progress = act.progress[lo:hi].tolist()
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
            for i in range(hi - lo)
        ]

    def extra_in_range(self, since: int, until: int) -> list[dict[str, Any]]:
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
            "faults": dataclasses.asdict(self.faults),
            "counters": dict(self.counters),
        }


def _fmt_ts(values: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(values.astype("datetime64[s]"), unit="s").tolist()]


def parse_rfc3339(value: str) -> int:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return int(parsed.timestamp())
