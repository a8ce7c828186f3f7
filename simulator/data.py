"""Deterministic data of the simulated OpenClassrooms organization.

Everything here is a pure function of ``SimConfig``: the same seed and sizes
give byte-identical courses, learners and learning activity. Activity is held
as columnar numpy arrays sorted by (updated_at, learner email, course id) so a
day range is two binary searches and a page is a slice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np

LANGUAGES = ("fr", "en", "es", "de", "it", "pt", "nl")
LANGUAGE_WEIGHTS = (0.44, 0.31, 0.08, 0.06, 0.05, 0.04, 0.02)
KEPT_STATUSES = ("active", "coming-soon", "pre-registration")
STATUSES = (*KEPT_STATUSES, "archived", "draft", "retired", "unpublished")
STATUS_WEIGHTS = (0.70, 0.06, 0.04, 0.08, 0.05, 0.04, 0.03)
# Share of provider learners with no LMS account: their activity must be
# dropped by the connector and only counted.
NON_LMS_SHARE = 0.10
ACTIVITY_PER_LEARNER = 5
EMAIL_DOMAINS = ("example.com", "example.org", "acme.example", "corp.example")

TOPICS = (
    "Python",
    "JavaScript",
    "SQL",
    "Data Science",
    "Project Management",
    "UX Design",
    "Cloud Computing",
    "Cybersecurity",
    "Machine Learning",
    "Agile",
    "Digital Marketing",
    "Excel",
    "Linux",
    "Docker",
    "React",
    "Java",
    "Communication",
    "Leadership",
    "Git",
    "Statistics",
    "Kubernetes",
    "Accessibility",
)
TITLE_TEMPLATES = {
    "fr": ("Apprenez {t}", "Initiez-vous à {t}", "Maîtrisez {t}", "Découvrez {t}"),
    "en": ("Learn {t}", "Get started with {t}", "Master {t}", "Discover {t}"),
    "es": ("Aprende {t}", "Iníciate en {t}", "Domina {t}"),
    "de": ("Lernen Sie {t}", "Einstieg in {t}", "{t} meistern"),
    "it": ("Impara {t}", "Introduzione a {t}", "Padroneggia {t}"),
    "pt": ("Aprenda {t}", "Introdução a {t}", "Domine {t}"),
    "nl": ("Leer {t}", "Aan de slag met {t}"),
}
DESCRIPTION_TEMPLATES = {
    "fr": "Dans ce cours, vous allez apprendre les bases de {t} pas à pas, avec des exercices pratiques.",
    "en": "In this course you will learn the foundations of {t} step by step, with hands-on exercises.",
    "es": "En este curso aprenderás los fundamentos de {t} paso a paso, con ejercicios prácticos.",
    "de": "In diesem Kurs lernen Sie die Grundlagen von {t} Schritt für Schritt mit praktischen Übungen.",
    "it": "In questo corso imparerai le basi di {t} passo dopo passo, con esercizi pratici.",
    "pt": "Neste curso você aprenderá os fundamentos de {t} passo a passo, com exercícios práticos.",
    "nl": "In deze cursus leer je stap voor stap de basis van {t}, met praktische oefeningen.",
}

LMS_ADMIN_EMAIL = "admin@lms.example"
LMS_EDITOR_EMAIL = "content.editor@lms.example"


@dataclasses.dataclass(frozen=True)
class SimConfig:
    seed: int = 7
    courses: int = 1000
    learners: int = 10000
    start_date: dt.date = dt.date(2026, 11, 1)
    days: int = 30
    organization_id: str = "org-demo"
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"  # noqa: S105 - the simulator's documented demo credential
    # "snapshots": every update of a learner's progress is kept and served; "latest":
    # only each learner and course's latest state (an old day replayed later has fewer records).
    activity_history: str = "snapshots"
    # Which provider's API serves the world: "openclassrooms" or "linkedin_learning".
    provider: str = "openclassrooms"
    # Activity records a learner has over a month's range (more: a tenant whose learners are daily).
    activity_per_learner: float = ACTIVITY_PER_LEARNER
    # The catalogue's and the learning activity's own seed (None: ``seed``). The learners, and so the
    # LMS accounts, always follow ``seed``: providers given the same seed and different catalogue
    # seeds serve one company's learners, each provider its own courses and its own share of them.
    catalogue_seed: int | None = None

    @property
    def world_seed(self) -> int:
        """The seed of the courses and the activity."""
        return self.seed if self.catalogue_seed is None else self.catalogue_seed


def iso_duration(minutes: int) -> str:
    """Format whole minutes the way the provider does (``PT12H30M``, ``P1DT6H``)."""
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "") + "T"
    if hours:
        out += f"{hours}H"
    if mins or not hours:
        out += f"{mins}M"
    return out


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def build_courses(cfg: SimConfig) -> list[dict[str, Any]]:
    rng = np.random.default_rng([cfg.world_seed, 1])
    n = cfg.courses
    ids = 1_000_000 + np.cumsum(rng.integers(1, 97, n))
    langs = rng.choice(len(LANGUAGES), n, p=LANGUAGE_WEIGHTS)
    statuses = rng.choice(len(STATUSES), n, p=STATUS_WEIGHTS)
    # Most courses are short; a long tail goes up to 60 h.
    hours = np.clip(np.round(rng.gamma(2.0, 5.0, n)), 1, 60).astype(int)
    quarter = rng.integers(0, 4, n) * 15
    minutes = np.where(hours >= 60, 0, quarter)
    topics = rng.integers(0, len(TOPICS), n)
    template_pick = rng.integers(0, 12, n)
    has_image = rng.random(n) > 0.1
    updated = _epoch(cfg.start_date) - rng.integers(86_400, 400 * 86_400, n)
    courses = []
    for i in range(n):
        lang = LANGUAGES[langs[i]]
        topic = TOPICS[topics[i]]
        templates = TITLE_TEMPLATES[lang]
        cid = str(int(ids[i]))
        title = templates[template_pick[i] % len(templates)].format(t=topic)
        slug = "-".join(title.lower().split())
        courses.append(
            {
                "id": cid,
                "title": f"{title} ({i % 9 + 1})",
                "description": DESCRIPTION_TEMPLATES[lang].format(t=topic),
                "language": lang,
                "status": STATUSES[statuses[i]],
                "duration": iso_duration(int(hours[i]) * 60 + int(minutes[i])),
                "url": f"https://openclassrooms.com/{lang}/courses/{cid}-{slug}",
                "image_url": f"https://user.oc-static.com/courses/{cid}.jpg" if has_image[i] else None,
                "updated_at": rfc3339(updated[i]),
            }
        )
    return courses


@dataclasses.dataclass
class Learners:
    emails: list[str]  # canonical (lower case)
    display: list[str]  # as the provider returns them (mixed case for some)
    in_lms: np.ndarray  # bool per learner


def build_learners(cfg: SimConfig) -> Learners:
    rng = np.random.default_rng([cfg.seed, 2])
    n = cfg.learners
    domains = rng.integers(0, len(EMAIL_DOMAINS), n)
    case_variant = rng.integers(0, 10, n)
    emails, display = [], []
    for i in range(n):
        local = f"learner.{cfg.seed}.{i:06d}"
        email = f"{local}@{EMAIL_DOMAINS[domains[i]]}"
        emails.append(email)
        # The provider keeps whatever case the learner typed.
        if case_variant[i] == 0:
            display.append(email.upper())
        elif case_variant[i] == 1:
            display.append(email.capitalize())
        else:
            display.append(email)
    in_lms = np.ones(n, dtype=bool)
    in_lms[rng.permutation(n)[: round(n * NON_LMS_SHARE)]] = False
    return Learners(emails=emails, display=display, in_lms=in_lms)


@dataclasses.dataclass
class Activity:
    """Columnar activity records, sorted by (updated_at, learner display email, course id)."""

    updated: np.ndarray  # int64 epoch seconds
    learner: np.ndarray  # int32 learner index (-1 = ad-hoc email in extra_emails)
    course: np.ndarray  # int32 course index into the *initial* course ids
    progress: np.ndarray  # float64 0-100
    started: np.ndarray  # int64 epoch seconds
    completed: np.ndarray  # int64 epoch seconds, -1 = not completed

    def __len__(self) -> int:
        return len(self.updated)


def build_activity(cfg: SimConfig, learners: Learners, course_ids: list[str]) -> Activity:
    rng = np.random.default_rng([cfg.world_seed, 3])
    n_learners, n_courses, days = cfg.learners, cfg.courses, max(cfg.days, 1)
    empty = np.zeros(0, dtype=np.int64)
    if n_learners == 0 or n_courses == 0:
        return Activity(empty, empty.astype(np.int32), empty.astype(np.int32), empty.astype(float), empty, empty)
    # About 2.3 records an enrolment survive the end of the date range, which
    # gives activity_per_learner records a learner over a month.
    n_enrol = int(n_learners * cfg.activity_per_learner / 2.3)
    popularity = 1.0 / np.arange(1, n_courses + 1) ** 0.8
    popularity = popularity[rng.permutation(n_courses)]
    popularity /= popularity.sum()
    learner = rng.integers(0, n_learners, n_enrol)
    course = rng.choice(n_courses, n_enrol, p=popularity)
    key = learner.astype(np.int64) * n_courses + course
    _, first = np.unique(key, return_index=True)
    learner, course = learner[first], course[first]
    n_enrol = len(learner)

    sessions = np.minimum(1 + rng.poisson(1.5, n_enrol), 8)
    start_day = rng.integers(0, days, n_enrol)
    completes = rng.random(n_enrol) < 0.35
    target = np.where(completes, 100.0, np.round(rng.uniform(5, 95, n_enrol), 1))

    enrol_idx = np.repeat(np.arange(n_enrol), sessions)
    n_rec = len(enrol_idx)
    session_no = np.arange(n_rec) - np.repeat(np.cumsum(sessions) - sessions, sessions)
    gaps = np.where(session_no == 0, 0, rng.integers(1, 4, n_rec))
    # Day offsets accumulate within an enrolment.
    cum_gap = np.cumsum(gaps)
    base = np.repeat(cum_gap[np.cumsum(sessions) - sessions], sessions)
    day = start_day[enrol_idx] + (cum_gap - base)
    keep = day < days
    weights = rng.uniform(0.5, 1.5, n_rec)
    cum_w = np.cumsum(weights)
    w_base = np.repeat(cum_w[np.cumsum(sessions) - sessions] - weights[np.cumsum(sessions) - sessions], sessions)
    total_w = np.repeat(np.add.reduceat(weights, np.cumsum(sessions) - sessions), sessions)
    frac = (cum_w - w_base) / total_w
    progress = np.round(frac * target[enrol_idx], 1)
    second = rng.integers(6 * 3600, 23 * 3600, n_rec)
    updated = _epoch(cfg.start_date) + day.astype(np.int64) * 86_400 + second

    first_updated = np.repeat(updated[np.cumsum(sessions) - sessions], sessions)
    started = first_updated - rng.integers(60, 3600, n_rec)
    started = np.repeat(started[np.cumsum(sessions) - sessions], sessions)
    completed = np.where(progress >= 100.0, updated, -1)

    sel = keep
    act = Activity(
        updated=updated[sel].astype(np.int64),
        learner=learner[enrol_idx][sel].astype(np.int32),
        course=course[enrol_idx][sel].astype(np.int32),
        progress=progress[sel],
        started=started[sel].astype(np.int64),
        completed=completed[sel].astype(np.int64),
    )
    return sort_activity(act, learners.display, course_ids)


def seconds_viewed(cfg: SimConfig, act: Activity, course_minutes: np.ndarray) -> np.ndarray:
    """Seconds a learner viewed for each record (a provider that measures time, such as LinkedIn
    Learning, reports them): the progress gained since the key's previous record, times the course's
    length, times a learner's pace between 0.8 and 1.4. Deterministic per record, so the seconds of a
    window are the sum of its days' seconds."""
    if not len(act):
        return np.zeros(0)
    keys = act.learner.astype(np.int64) * max(len(course_minutes), 1) + act.course
    order = np.lexsort((act.updated, keys))
    progress = act.progress[order]
    same_key = np.r_[False, keys[order][1:] == keys[order][:-1]]
    previous = np.where(same_key, np.r_[0.0, progress[:-1]], 0.0)
    gained = np.clip(progress - previous, 0, 100)
    pace = 0.8 + 0.6 * np.random.default_rng([cfg.world_seed, 5]).random(len(act))
    seconds = np.empty(len(act))
    seconds[order] = np.round(gained / 100 * course_minutes[act.course[order]] * 60 * pace[order])
    return seconds


def sort_activity(act: Activity, display: list[str], course_ids: list[str]) -> Activity:
    # Same order as the contract: updated_at, then learner, then course.
    learner_rank = np.argsort(np.argsort(np.array(display, dtype=object)))
    course_rank = np.argsort(np.argsort(np.array(course_ids, dtype=object)))
    order = np.lexsort((course_rank[act.course], learner_rank[act.learner], act.updated))
    return Activity(*(getattr(act, f.name)[order] for f in dataclasses.fields(Activity)))


def lms_seed(cfg: SimConfig, learners: Learners) -> dict[str, Any]:
    """The LMS side of the demo: accounts, the synchronized group, members and roles.

    The accounts are the same whatever the provider (the same seed gives the
    same learners); the group is the provider's own.
    """
    from simulator.app import provider_module

    # The LMS group the provider's demo connector syncs into (each simulator module names its own).
    group_id, group_name = provider_module(cfg.provider).LMS_GROUP
    users = [
        {"user_id": "u-admin", "email": LMS_ADMIN_EMAIL, "name": "LMS Admin"},
        {"user_id": "u-editor", "email": LMS_EDITOR_EMAIL, "name": "Content Editor"},
    ]
    members = [
        {"group_id": group_id, "user_id": "u-admin", "role": "administrator"},
        {"group_id": group_id, "user_id": "u-editor", "role": "editor"},
    ]
    for i in np.flatnonzero(learners.in_lms):
        uid = f"u-{int(i):06d}"
        users.append({"user_id": uid, "email": learners.emails[i], "name": f"Learner {int(i)}"})
        members.append({"group_id": group_id, "user_id": uid, "role": "learner"})
    return {
        "groups": [{"group_id": group_id, "name": group_name}],
        "users": users,
        "group_members": members,
        "settings": {
            "enabled": True,
            "target_group_id": group_id,
            "author_email": LMS_EDITOR_EMAIL,
            "languages": [],
        },
        "non_lms_learners": int((~learners.in_lms).sum()),
    }
