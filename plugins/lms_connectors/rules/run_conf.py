"""A run's conf: the keys its DAG declares, and the one-line refusal of any other."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lms_connectors.rules.errors import did_you_mean


def unknown_conf_keys(conf: dict[str, Any] | None, accepted: Iterable[str]) -> str | None:
    """The one-line refusal of a run's conf holding keys the DAG does not declare, or None.

    Airflow keeps undeclared keys as extra params, silently: ``{"dryrun": false}`` meant to apply
    a change and ran as a dry run. A key is shown cut to 40 characters, and never when it holds an
    email address (a privacy request's conf pasted the wrong way round): the refusal is logged."""
    known = sorted(accepted)
    unknown = sorted(set(conf or {}) - set(known))
    if not unknown:
        return None
    shown = sorted(
        {
            "<a key holding an email address>" if "@" in k else f"{k[:40]!r}{did_you_mean(k, known)}"
            for k in map(str, unknown)
        }
    )
    return (
        f"unknown key{'s' if len(unknown) > 1 else ''} in the run's conf: {', '.join(shown)}; "
        f"accepted: {', '.join(known)}"
    )
