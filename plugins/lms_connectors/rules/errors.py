"""Errors shared by the core and the providers.

A :class:`PermanentError` is one a retry of the task cannot fix (bad
credentials, bad settings, a batch over a threshold): the task fails at once
with its message. Any other exception is left to Airflow's retries.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'name'?)`` naming the known key closest to a misspelt one, or "" if none is close."""
    near = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


class PermanentError(Exception):
    """Retrying the task cannot fix this: fail it at once, with the message."""


class ProviderError(Exception):
    """Base of every error a provider client raises."""


class ProviderAuthError(ProviderError, PermanentError):
    """The provider refused the client credentials."""


class ProviderForbiddenError(ProviderError, PermanentError):
    """The credentials give no access to the organization or account."""


class ProviderUnavailableError(ProviderError):
    """The client's own retries were exhausted on transient errors; a later task retry may succeed."""


class ProviderResponseError(ProviderError, PermanentError):
    """The provider kept answering outside its contract (bad JSON, unexpected status) through the retries."""


class ProviderPagingError(ProviderError, PermanentError):
    """Pages kept not adding up (wrong total, repeated or overlapping ranges) through the retries."""


class ListingChanged(ProviderPagingError):
    """The listing changed while it was read (its total moved): read it again from the start."""


class ConnectionConfigError(ValueError, PermanentError):
    """A Connection lacks a field, or holds a value, the code cannot use."""


class StagingLost(RuntimeError):
    """What an earlier step of the run staged is gone or stale: a warehouse restart or failover
    emptied the unlogged staging tables, or an erasure committed while the records were staged.
    The pipeline runs the run's steps again from its extract (``lms_connectors.pipeline.run``)."""
