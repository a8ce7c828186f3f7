"""The simulator's seeded data is a pure function of its config and looks like the real thing."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt

import numpy as np

from lms_connectors.rules.encodings import iso8601_minutes as duration_minutes
from simulator import data

CFG = data.SimConfig(seed=11, courses=400, learners=2000, days=10)


def test_courses_are_deterministic_and_seed_dependent():
    assert data.build_courses(CFG) == data.build_courses(CFG)
    assert data.build_courses(dataclasses.replace(CFG, seed=12)) != data.build_courses(CFG)


def test_course_mix_is_realistic():
    courses = data.build_courses(CFG)
    langs = collections.Counter(c["language"] for c in courses)
    assert langs.most_common(2)[0][0] in ("fr", "en") and {"es", "de", "it", "pt"} <= set(langs)
    assert langs["fr"] + langs["en"] > 0.6 * len(courses)
    statuses = collections.Counter(c["status"] for c in courses)
    assert set(data.KEPT_STATUSES) <= set(statuses) and len(statuses) >= 6
    minutes = [duration_minutes(c["duration"]) for c in courses]
    assert min(minutes) >= 60 and max(minutes) <= 60 * 60
    assert len({c["id"] for c in courses}) == len(courses)


def test_known_share_of_learners_is_not_in_the_lms():
    learners = data.build_learners(CFG)
    assert (~learners.in_lms).sum() == round(CFG.learners * data.NON_LMS_SHARE)
    seed = data.lms_seed(CFG, learners)
    emails = {u["email"] for u in seed["users"]}
    assert len(emails & set(learners.emails)) == learners.in_lms.sum()
    roles = collections.Counter(m["role"] for m in seed["group_members"])
    assert roles["administrator"] == 1 and roles["editor"] == 1


def test_activity_is_sorted_spread_and_monotonic():
    learners = data.build_learners(CFG)
    ids = [c["id"] for c in data.build_courses(CFG)]
    act = data.build_activity(CFG, learners, ids)
    assert abs(len(act) - CFG.learners * data.ACTIVITY_PER_LEARNER) < 0.3 * CFG.learners * data.ACTIVITY_PER_LEARNER
    assert np.all(np.diff(act.updated) >= 0)
    days = set(((act.updated - act.updated.min()) // 86_400).tolist())
    assert len(days) == CFG.days
    assert act.progress.min() >= 0 and act.progress.max() <= 100
    # Per enrolment, progress never goes down over time.
    last: dict[tuple[int, int], float] = {}
    for learner, course, progress in zip(act.learner.tolist(), act.course.tolist(), act.progress.tolist(), strict=True):
        assert progress >= last.get((learner, course), 0.0)
        last[(learner, course)] = progress
    assert np.all((act.completed < 0) | (act.progress == 100))


def test_iso_duration_format():
    assert data.iso_duration(750) == "PT12H30M"
    assert data.iso_duration(1800) == "P1DT6H"
    assert data.iso_duration(45) == "PT45M"


def _day(start: str, days: int = 1) -> tuple[int, int]:
    from simulator.state import parse_rfc3339

    lo = parse_rfc3339(f"{start}T00:00:00Z")
    return lo, lo + days * 86_400


def test_a_latest_state_provider_serves_each_key_once_and_an_old_day_shrinks_as_time_goes_on():
    from simulator.state import SimState

    state = SimState(dataclasses.replace(CFG, courses=60, learners=300))
    first = CFG.start_date.isoformat()
    day = _day((CFG.start_date + dt.timedelta(days=2)).isoformat())
    snapshots = state.activity_listing(*day)
    key = lambda r: (r["learner_email"].lower(), r["course_id"])  # noqa: E731
    newest_of_day = {key(r): r for r in snapshots}  # listings are in time order: the last one wins

    # On time (the clock at the end of the day), a latest-state provider gives each key's last record of the day.
    state.set_history("latest", data.rfc3339(day[1]))
    on_time = state.activity_listing(*day)
    assert sorted(map(key, on_time)) == sorted(newest_of_day)
    assert all(r == newest_of_day[key(r)] for r in on_time)

    # Days later, the same day only holds the keys nobody updated since.
    state.set_history("latest", data.rfc3339(day[1] + 5 * 86_400))
    later = state.activity_listing(*day)
    assert 0 < len(later) < len(on_time)
    assert all(r == newest_of_day[key(r)] for r in later)
    whole = state.activity_listing(*_day(first, CFG.days))
    assert len(whole) == len({key(r) for r in whole})

    # The snapshot provider is unchanged by the clock for days before it.
    state.set_history("snapshots", data.rfc3339(day[1] + 5 * 86_400))
    assert state.activity_listing(*day) == snapshots
