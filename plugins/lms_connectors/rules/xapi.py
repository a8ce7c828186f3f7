"""xAPI 1.0.3 statements as providers push them: what the endpoint checks before it stores one, what it
keeps of it, and how a resent statement is told from a conflicting one.

A statement is screened, never trusted: only the properties of the xAPI data model are accepted,
every string is checked by the record guard (control characters, lone surrogates, length), the
nesting is bounded, and the actor must be one learner (an ``Agent`` identified by ``mbox`` or by an
``account``). The actor's identifier is handed to the caller to hash and never kept: the stored
statement holds what progress is read from (verb, activity, result, context activities, timestamp)
and the actor's form, not who it is nor any other person it names.

Two statements with one id are the same when they differ only where the xAPI specification lets
them (its "exceptions to Statement immutability": ``authority``, ``stored``, ``version``, the case of
the id): :attr:`Statement.digest` is computed on that canonical form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import uuid
from typing import Any

import orjson

from lms_connectors.rules import guard
from lms_connectors.rules.encodings import parse_rfc3339
from lms_connectors.rules.guard import kind_of

VERSION_HEADER = "X-Experience-API-Version"
# Every 1.0.x request is answered as 1.0.3 (the specification's patch versions share one data model).
VERSION = "1.0.3"
_SUPPORTED_VERSION = re.compile(r"^1\.0(\.[0-9]+)?$")

# The statement's own properties (xAPI 1.0.3, 2.4); anything else is refused.
_PROPERTIES = frozenset(
    {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"}
)
# Of a result and a context, what is kept: no free text (``response``), no person (``instructor``, ``team``).
_RESULT_KEPT = frozenset({"score", "success", "completion", "duration", "extensions"})
_CONTEXT_KEPT = frozenset({"registration", "contextActivities", "revision", "platform", "language", "extensions"})
# The properties an LRS sets or may change: not part of what makes two statements one.
_IMMUTABILITY_EXCEPTIONS = ("authority", "stored", "version")
MAX_DEPTH = 12
MAX_STRING = 4096
MAX_ARRAY = 1000
_STRING = guard.Field("xapi", guard.Kind.TEXT, MAX_STRING)
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_PROPERTY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_MBOX = re.compile(r"^mailto:(?P<email>[^@\s]+@[^@\s]+)$", re.IGNORECASE)

# Why a statement is quarantined (ops.rejected_statements.reason).
INVALID_STATEMENT = "invalid_statement"
UNSUPPORTED_ACTOR = "unsupported_actor"
ID_MISMATCH = "statement_id_mismatch"


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who did it: ``kind`` ``mbox`` (``value`` the email) or ``account`` (``value`` the account's
    name, ``home_page`` the system it belongs to)."""

    kind: str
    value: str
    home_page: str | None = None


@dataclasses.dataclass(frozen=True)
class Statement:
    """A screened statement: its id (lower case), actor, verb and activity ids, timestamp, the body
    kept (the statement without its actor's identifier) and the digest two sendings are compared by."""

    id: str
    actor: Actor
    verb: str
    activity: str
    timestamp: dt.datetime | None
    body: dict[str, Any]
    digest: str


@dataclasses.dataclass(frozen=True)
class Refused:
    """A statement the endpoint will not store: why, in a line that names no learner."""

    reason: str
    detail: str
    id: str | None = None


def supported_version(header: str | None) -> bool:
    return header is not None and _SUPPORTED_VERSION.match(header.strip()) is not None


def screen(raw: Any, statement_id: str | None = None) -> Statement | Refused:
    """One statement of a request, checked; ``statement_id`` is the id a PUT names (the body's own id,
    when it has one, must be the same). A statement without an id gets one, as the LRS assigns it."""
    declared = raw.get("id") if isinstance(raw, dict) else None
    try:
        sid = _statement_id(declared, statement_id)
    except ValueError as err:
        return Refused(ID_MISMATCH if statement_id else INVALID_STATEMENT, str(err))
    try:
        _check_strings(raw, 0)
        if not isinstance(raw, dict):
            raise ValueError(f"a statement is an object, not {kind_of(raw)}")
        unknown = sorted(set(raw) - _PROPERTIES)
        if unknown:
            raise ValueError(f"unknown propert{'y' if len(unknown) == 1 else 'ies'}: {_names(unknown)}")
        verb = _iri(_member(raw, "verb", dict).get("id"), "verb.id")
        target = _member(raw, "object", dict)
        if target.get("objectType", "Activity") != "Activity":
            raise ValueError("the object is not an Activity")
        activity = _iri(target.get("id"), "object.id")
        timestamp = None if raw.get("timestamp") is None else _timestamp(raw["timestamp"])
        _check_result(raw.get("result"))
    except ValueError as err:
        return Refused(INVALID_STATEMENT, str(err), sid)
    try:
        actor = _actor(raw.get("actor"))
    except ValueError as err:
        return Refused(UNSUPPORTED_ACTOR, str(err), sid)
    return Statement(sid, actor, verb, activity, timestamp, _kept(raw, sid, actor), digest({**raw, "id": sid}))


def _kept(raw: dict[str, Any], sid: str, actor: Actor) -> dict[str, Any]:
    """What is stored of a statement: what progress is read from, nothing that names a person (the
    actor's identifier, an instructor or team in the context, the authority, free-text responses)."""
    kept: dict[str, Any] = {
        "id": sid,
        "actor": {"objectType": "Agent", "identified_by": actor.kind},
        "verb": {"id": raw["verb"]["id"]},
        "object": {"objectType": "Activity", "id": raw["object"]["id"]},
    }
    if isinstance(raw.get("result"), dict):
        kept["result"] = {k: v for k, v in raw["result"].items() if k in _RESULT_KEPT}
    if isinstance(raw.get("context"), dict):
        kept["context"] = {k: v for k, v in raw["context"].items() if k in _CONTEXT_KEPT}
    if raw.get("timestamp") is not None:
        kept["timestamp"] = raw["timestamp"]
    return kept


def digest(statement: dict[str, Any]) -> str:
    """What two sendings of one statement must share: its canonical JSON without the properties an
    LRS sets (``authority``, ``stored``, ``version``)."""
    kept = {k: v for k, v in statement.items() if k not in _IMMUTABILITY_EXCEPTIONS}
    return hashlib.sha256(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _names(properties: list[str]) -> str:
    """Property names as a refusal may quote them: names that are words; the others, which could be
    anything a provider sent (an address), only counted. A refusal's detail is kept for months."""
    words = [p for p in properties if _PROPERTY_NAME.match(p)]
    others = len(properties) - len(words)
    return ", ".join(words[:10]) + (f"{', ' if words else ''}{others} other" if others else "")


def _statement_id(declared: Any, named: str | None) -> str:
    parsed = [_uuid(v, what) for v, what in ((declared, "id"), (named, "statementId")) if v is not None]
    if len(parsed) == 2 and parsed[0] != parsed[1]:
        raise ValueError("the statement's id is not the statementId of the request")
    return parsed[0] if parsed else str(uuid.uuid4())


def _uuid(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{what} is not a UUID")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"{what} is not a UUID") from None


def _actor(actor: Any) -> Actor:
    if not isinstance(actor, dict) or actor.get("objectType", "Agent") != "Agent":
        raise ValueError("the actor is not an Agent (a Group or a missing actor is no learner)")
    forms = [k for k in ("mbox", "mbox_sha1sum", "openid", "account") if actor.get(k) is not None]
    if len(forms) != 1:
        raise ValueError(f"an Agent has exactly one identifier, this one has {len(forms)}")
    if forms == ["mbox"]:
        match = _MBOX.match(actor["mbox"]) if isinstance(actor["mbox"], str) else None
        if match is None:
            raise ValueError("mbox is not a mailto: address")
        return Actor("mbox", match["email"])
    if forms == ["account"]:
        account = actor["account"]
        if not isinstance(account, dict) or not isinstance(account.get("name"), str) or not account["name"].strip():
            raise ValueError("an account has a name")
        return Actor("account", account["name"], _iri(account.get("homePage"), "account.homePage"))
    raise ValueError(f"an Agent identified by {forms[0]} cannot be matched to an LMS user")


def _member(raw: dict[str, Any], name: str, kind: type) -> Any:
    value = raw.get(name)
    if not isinstance(value, kind):
        raise ValueError(f"{name} is {kind_of(value)}, expected an object")
    return value


def _iri(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _IRI.match(value) or len(value) > 2048:
        raise ValueError(f"{what} is not an IRI")
    return value


def _timestamp(value: Any) -> dt.datetime:
    try:
        parsed = parse_rfc3339(value)
    except ValueError:
        raise ValueError("timestamp is not an RFC 3339 time with a zone") from None
    if not guard.in_window(parsed):
        raise ValueError("timestamp out of range")
    return parsed


def _check_result(result: Any) -> None:
    if result is None:
        return
    if not isinstance(result, dict):
        raise ValueError(f"result is {kind_of(result)}, expected an object")
    for flag in ("completion", "success"):
        if result.get(flag) is not None and not isinstance(result[flag], bool):
            raise ValueError(f"result.{flag} is {kind_of(result[flag])}, expected a boolean")
    extensions = result.get("extensions")
    if extensions is not None and (not isinstance(extensions, dict) or not all(map(_IRI.match, extensions))):
        raise ValueError("result.extensions is not an object keyed by IRIs")
    scaled = (result.get("score") or {}).get("scaled") if isinstance(result.get("score"), dict) else None
    if scaled is not None and (type(scaled) not in (int, float) or not -1 <= scaled <= 1):
        raise ValueError("result.score.scaled is not a number from -1 to 1")


def _check_strings(value: Any, depth: int) -> None:
    """Every string and key of the statement passes the guard; nesting and arrays are bounded."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if (broken := guard.check(value, _STRING)) is not None:
            raise ValueError(f"a string {broken[1]}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, depth + 1)
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_ARRAY:
            raise ValueError(f"an array of {len(value):,} items, over {MAX_ARRAY:,}")
        for item in value:
            _check_strings(item, depth + 1)
    elif isinstance(value, float) and (value != value or abs(value) > guard.MAX_NUMBER):
        raise ValueError("a number out of range")
