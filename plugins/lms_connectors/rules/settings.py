"""Per-connector settings: one JSON Airflow Variable, validated by a schema.

Any bad value fails with one message that names the Variable and the field,
before any data is touched.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pydantic

from lms_connectors.rules.errors import PermanentError


def iso_639_1_codes() -> tuple[str, ...]:
    """Every ISO 639-1 code, from pycountry's copy of the ISO tables."""
    return tuple(language_labels())


@functools.cache
def language_labels() -> dict[str, str]:
    """Each ISO 639-1 code (sorted) and how a form shows it: the language's English name and its code."""
    import pycountry

    named = {lang.alpha_2: lang.name for lang in pycountry.languages if hasattr(lang, "alpha_2")}
    return {code: f"{named[code]} ({code})" for code in sorted(named)}


_ISO_639_1: frozenset[str] | None = None


def is_language_code(code: str) -> bool:
    global _ISO_639_1
    if _ISO_639_1 is None:
        _ISO_639_1 = frozenset(iso_639_1_codes())
    return code in _ISO_639_1


_HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SettingsError(ValueError, PermanentError):
    """The settings Variable is missing or holds a bad value."""


class ConnectorSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    target_group_id: str = pydantic.Field(min_length=1)
    author_email: str
    languages: tuple[str, ...] = ()
    # Share of rejected records above which a batch fails (from two rejected records: one never fails it).
    max_reject_share: float = pydantic.Field(default=0.05, ge=0, le=1)
    # Share of the active catalogue one run may archive without an override.
    max_archive_share: float = pydantic.Field(default=0.2, ge=0, le=1)
    # How long a run whose catalogue change needs approval waits for an answer (then: rejected).
    approval_timeout_hours: float = pydantic.Field(default=24, gt=0, le=24 * 14)
    # Share of a day's stored rows a replay asked to delete unreported rows may delete.
    max_replay_delete_share: float = pydantic.Field(default=0.1, ge=0, le=1)
    # Hosts (and their subdomains) course launch and image URLs may point to; empty: the provider's own.
    url_hosts: tuple[str, ...] = ()
    # Days of run-scoped staging rows kept for debugging (at most 30: they hold learners' hashes).
    staging_retention_days: int = pydantic.Field(default=7, ge=0, le=30)
    # A healing (learners the LMS now knows, their unrecognised days read again) above either bound
    # waits for a run started with approve_healing.
    heal_max_learners: int = pydantic.Field(default=500, ge=0)
    heal_max_days: int = pydantic.Field(default=31, ge=0)

    @pydantic.field_validator("author_email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not _EMAIL_RE.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @pydantic.field_validator("url_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError('must be a list of host names, e.g. ["courses.example.com"]')
        hosts = tuple(str(h).strip().lower() for h in value)
        for host in hosts:
            if not _HOST_RE.match(host):
                raise ValueError(f"{host!r} is not a host name")
        return hosts

    @pydantic.field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError('must be a list of ISO 639-1 codes, e.g. ["fr", "en"]')
        out: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"{item!r} is not a language code")
            code = item.strip().lower()
            if not is_language_code(code):
                raise ValueError(f"{item!r} is not an ISO 639-1 language code")
            if code not in out:
                out.append(code)
        return tuple(out)


def variable_name(connector_id: str) -> str:
    return f"lms_connector_{connector_id}"


def parse_settings(raw: str | dict[str, Any] | None, variable: str) -> ConnectorSettings:
    if raw is None:
        raise SettingsError(f"Variable {variable!r} is not set; it must hold the connector settings as JSON")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(
                f"Variable {variable!r} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    if not isinstance(raw, dict):
        raise SettingsError(f"Variable {variable!r} must be a JSON object")
    try:
        return ConnectorSettings.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(root)"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            problems.append(f"field {field!r}: {msg}")
        raise SettingsError(f"Variable {variable!r}: " + "; ".join(problems)) from None
