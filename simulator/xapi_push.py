"""The simulator as a provider's xAPI push feed: the statements a provider sends an LRS for the
activity of a window, in the forms its documentation gives, with the gaps it documents.

- LinkedIn Learning (Watershed's and Learn365's help pages): ``progressed`` with the cmi5 progress
  extension as a learner goes, ``completed`` at 100 %; the actor an ``account`` (the SSO's
  ``uniqueUserId``) or an ``mbox``; the course's URN as the activity; no statement for a retake.
- Skillsoft Percipio (Skillsoft's xAPI vocabulary): ``experienced`` while a learner goes,
  ``completed`` at the end; the actor from the username (an ``account``) or the email.

Statements get stable ids (a UUID 5 of the record), so a retried push resends the same statements.
The gaps a test or the demo asks for (``POST /_sim/xapi/push``):

- ``drop_share``: that share of the statements is never sent ("we will not resend data that was
  missed");
- ``duplicate_share``: that share is sent twice, in another request;
- ``shuffle``: requests go out of order;
- ``no_retake``: nothing after a learner's first completion of a course.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import requests

from simulator.common import fraction
from simulator.state import SimState, parse_rfc3339

_NAMESPACE = uuid.UUID("6f1c1d0e-3b7a-4f57-9d61-2f0c8f1f4a10")
PROGRESS_EXTENSION = "https://w3id.org/xapi/cmi5/result/extensions/progress"
VERBS = {
    "progressed": "http://adlnet.gov/expapi/verbs/progressed",
    "experienced": "http://adlnet.gov/expapi/verbs/experienced",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
}
# Each pushing provider: the verb while a learner goes, the activity IRI of a course, the account's system.
FEEDS = {
    "linkedin_learning": ("progressed", "urn:li:lyndaCourse:{course}", "https://www.linkedin.com"),
    "skillsoft_percipio": ("experienced", "https://api.percipio.com/content/{course}", "https://percipio.com"),
}
MAX_TRIES = 5


def statements(state: SimState, since: int, until: int, actor: str = "account") -> list[dict[str, Any]]:
    """The statements of the activity of [since, until), in the order the provider would send them."""
    provider = state.cfg.provider
    if provider not in FEEDS:
        raise ValueError(f"{provider} documents no xAPI feed")
    going, activity_iri, home = FEEDS[provider]
    users = {email.lower(): i for i, email in enumerate(state.learners.emails)}
    out = []
    for r in state.activity_listing(since, until, with_seconds=True):
        email = str(r["learner_email"])
        learner = users.get(email.lower())
        account = r.get("learner_id") or (f"u-{learner:06d}" if learner is not None else None)
        progress = r["progress"]
        done = isinstance(progress, int | float) and progress >= 100
        statement: dict[str, Any] = {
            "id": str(uuid.uuid5(_NAMESPACE, f"{provider}|{email.lower()}|{r['course_id']}|{r['updated_at']}")),
            "actor": (
                {"objectType": "Agent", "account": {"homePage": home, "name": account}}
                if actor == "account" and account
                else {"objectType": "Agent", "mbox": f"mailto:{email}"}
            ),
            "verb": {"id": VERBS["completed" if done else going], "display": {"en-US": "completed" if done else going}},
            "object": {"objectType": "Activity", "id": activity_iri.format(course=r["course_id"])},
            "timestamp": r["updated_at"],
        }
        if done:
            statement["result"] = {"completion": True}
        elif provider == "linkedin_learning":
            statement["result"] = {"extensions": {PROGRESS_EXTENSION: progress}}
        if r.get("seconds_viewed"):
            statement.setdefault("result", {})["duration"] = f"PT{int(r['seconds_viewed'])}S"
        out.append(statement)
    return out


def push(state: SimState, spec: dict[str, Any]) -> dict[str, int]:
    """Send the statements of ``spec``'s window to its endpoint with its gaps; what was sent.

    ``spec``: ``endpoint`` (the statements URL), ``username``, ``secret``, ``since`` and ``until``
    (RFC 3339), and optionally ``actor`` (``account`` or ``mbox``), ``batch`` (statements per POST),
    ``drop_share``, ``duplicate_share``, ``shuffle``, ``no_retake``. A request answered 429 or 5xx,
    or not answered, is sent again (five tries, backing off); one refused otherwise is counted."""
    found = statements(state, parse_rfc3339(spec["since"]), parse_rfc3339(spec["until"]), spec.get("actor", "account"))
    seed = state.cfg.seed
    kept, dropped, completed = [], 0, set()
    for s in found:
        key = (str(s["actor"]), s["object"]["id"])
        if spec.get("no_retake") and key in completed:
            dropped += 1
            continue
        if s["verb"]["id"] == VERBS["completed"]:
            completed.add(key)
        if fraction(seed, "xapi_drop", s["id"]) < float(spec.get("drop_share", 0)):
            dropped += 1
            continue
        kept.append(s)
    batch = int(spec.get("batch", 50))
    requests_ = [kept[i : i + batch] for i in range(0, len(kept), batch)]
    twice = [s for s in kept if fraction(seed, "xapi_dup", s["id"]) < float(spec.get("duplicate_share", 0))]
    requests_ += [twice[i : i + batch] for i in range(0, len(twice), batch)]
    if spec.get("shuffle"):
        random.Random(seed).shuffle(requests_)  # noqa: S311 - a reproducible order, not a secret
    counts = {"statements": len(found), "sent": 0, "dropped": dropped, "duplicated": len(twice), "refused": 0}
    counts["retries"] = 0
    with requests.Session() as session:
        for body in requests_:
            status = _send(session, spec, body, counts)
            counts["sent" if status < 300 else "refused"] += len(body)
    return counts


def _send(session: requests.Session, spec: dict[str, Any], body: list[dict[str, Any]], counts: dict[str, int]) -> int:
    headers = {"X-Experience-API-Version": "1.0.3"}
    for attempt in range(MAX_TRIES):
        try:
            answer = session.post(
                spec["endpoint"], json=body, auth=(spec["username"], spec["secret"]), headers=headers, timeout=30
            )
            if answer.status_code != 429 and answer.status_code < 500:
                return answer.status_code
        except requests.RequestException:
            pass
        counts["retries"] += 1
        time.sleep(min(2.0, 0.1 * 2**attempt))
    return 599
