"""Providers: one package per e-learning provider, behind one interface, and the registry of connectors.

May import: lms_connectors.rules, lms_connectors.providers
Never imports: psycopg (a provider reads its API; the core writes the warehouse)

The core (catalogue, statistics, quality, warehouse, DAG factory) owns the
staging schema and the rules, and never imports a provider package: it asks
:func:`get` for the :class:`Provider` a registry entry names. A provider
package (``lms_connectors/providers/<name>/``) defines ``PROVIDER``, an
instance of a :class:`Provider` subclass, that gives:

- its client, built from its Airflow Connection (course pages, activity
  pages for an interval), on the shared HTTP machinery of ``providers.http``;
- the allow-lists of its records for the record guard (``course_schema``,
  ``activity_schema``): each field's path in the provider's JSON, kind and
  cap; activity fields use the core's names (``lms_connectors.rules.records``);
- a pure converter of a screened course record into the core's staging row;
- its kept statuses, how its activity timestamps are written, how its
  learners are identified (an email field) and its time-spent rule;
- the names of its Connection's fields in a compose environment.

Adding a provider is one package and one registry entry: see
``docs/ADDING_A_PROVIDER.md``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal, Protocol

from lms_connectors.rules.encodings import TimestampEncoding, timestamp_encoding
from lms_connectors.rules.errors import ConnectionConfigError
from lms_connectors.rules.guard import RecordSchema
from lms_connectors.rules.time_rules import TimeRule, time_rule

RemovedCourses = Literal["archive", "keep"]
Credentials = Literal["client", "token"]
Freshness = Literal["on_time", "reported"]
# The kinds of identity the LMS declares for its users besides emails (lms.user_identities.kind).
IdentityKind = Literal["sso_subject", "provider_account"]


class ProviderClient(Protocol):
    stats: dict[str, int]

    def iter_course_pages(self) -> Iterator[list[Any]]: ...

    def iter_activity_pages(self, since: Any, until: Any) -> Iterator[list[Any]]: ...


class ReportsFreshness(Protocol):
    """The client of a provider whose ``freshness`` is "reported"."""

    def activity_covered_until(self, since: Any, until: Any) -> Any: ...


class ConnectionLike(Protocol):
    conn_id: str
    host: str | None
    schema: str | None
    port: int | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class StaticConnection:
    """A Connection's fields without Airflow (the benchmark's steps run in bare processes)."""

    conn_id: str
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    host: str | None = None
    schema: str | None = None
    port: int | None = None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


@dataclasses.dataclass(frozen=True)
class FormField:
    """One field of the provider's Connection form in Airflow's UI (Admin > Connections)."""

    label: str
    placeholder: str = ""
    description: str = ""
    # The values the field may take (a select in the form).
    choices: tuple[str, ...] = ()
    # A number: the form asks for one and the Connection keeps it as a JSON number. Airflow treats
    # every string of a Connection's extra as a secret to mask, and warns once per process about
    # each one too short to mask ("Skipping masking ..."): a poll interval of "1" was one.
    number: bool = False


class Provider:
    """What the core needs from a provider. Subclasses set the class attributes and the methods.

    Most attributes name a strategy the core keeps in a registry: ``activity_timestamps`` an
    encoding of ``lms_connectors.rules.encodings``, ``time_spent_rule`` a rule of
    ``lms_connectors.rules.time_rules``; the others are declarations the core reads as they are.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    course_schema: ClassVar[RecordSchema]
    activity_schema: ClassVar[RecordSchema]
    # Provider statuses under which a course stays available in the LMS.
    kept_statuses: ClassVar[frozenset[str]]
    # How activity timestamps are written (lms_connectors.rules.encodings.TIMESTAMPS).
    activity_timestamps: ClassVar[str] = "rfc3339"
    # How time spent is computed (lms_connectors.rules.time_rules.RULES).
    time_spent_rule: ClassVar[str] = "theoretical"
    # What a course the provider stops listing means: "archive" it (reason removed_by_provider), or
    # "keep" it as it was (a provider that retires courses explicitly, through their status).
    removed_courses: ClassVar[RemovedCourses] = "archive"
    # When a day's activity is complete: "on_time" (once the day is over), or "reported" (the provider
    # says until when its data is published: the client's activity_covered_until; the run waits).
    freshness: ClassVar[Freshness] = "on_time"
    # What the Connection holds: "client" (login = client id, password = client secret) or "token"
    # (password = a static service-account token; no login).
    credentials: ClassVar[Credentials] = "client"
    # Which identity the activity records' learner id is (the schema's ``records.LEARNER_ID`` field),
    # None when they carry none: "sso_subject" (the enterprise's id of the learner, as its single
    # sign-on gives it) or "provider_account" (an account id of this provider's). A record is
    # matched on it before its email.
    learner_id_kind: ClassVar[IdentityKind | None] = None
    # Keys of the Connection's extra that the client needs, besides base_url.
    connection_extras: ClassVar[tuple[str, ...]] = ()
    # Keys of the extra it reads when they are set (compose passes them from the environment too).
    optional_extras: ClassVar[tuple[str, ...]] = ()
    # Hosts (and their subdomains) a course's launch and image URLs may point to; a connector's
    # settings may name others (url_hosts).
    url_hosts: ClassVar[tuple[str, ...]] = ()
    # Further hosts its live API serves course images from (a CDN of its own). An image elsewhere is
    # dropped, never the course.
    image_hosts: ClassVar[tuple[str, ...]] = ()
    # Extras every provider's client reads when set (providers.http.client_options_from_extra).
    common_extras: ClassVar[tuple[str, ...]] = ("plain_http_hosts", "concurrent_requests")
    # The extras that say where the credentials are sent: a stored secret is never used with other
    # values of these than it was saved with (lms_connectors.health.secret_guard).
    endpoint_extras: ClassVar[tuple[str, ...]] = ("base_url", "plain_http_hosts")
    # Pages of one listing asked at once (the Connection's extra concurrent_requests overrides it).
    # No provider publishes a per-second or concurrency limit (LinkedIn's are daily, per application:
    # asking ahead spends no more of them), so the default overlaps the fetch with the reading
    # without looking like a burst: a 429 still holds every request of the client (providers.http).
    concurrent_requests: ClassVar[int] = 4
    # The Connection form's fields in the provider's own words: "login" and "password" relabel those
    # (the defaults follow ``credentials``), any other key is an extra of that name. Airflow's UI gets
    # them from the distribution's provider info (lms_connectors.orchestration.provider_info).
    connection_form: ClassVar[Mapping[str, FormField]] = {}
    # The API resources a run reads, as lineage names them (``catalogue``, ``activity``): paths under
    # the base URL, ``{organization_id}`` and other extras filled from the Connection.
    lineage_paths: ClassVar[Mapping[str, str]] = {}

    def client_from_connection(self, conn: ConnectionLike, **overrides: Any) -> ProviderClient:
        raise NotImplementedError

    @property
    def conn_type(self) -> str:
        """The provider's Airflow Connection type: its name, hyphenated (a type is the scheme of the
        Connection's URI, where RFC 3986 allows no underscore; Airflow warns at every use of one)."""
        return self.name.replace("_", "-")

    def form(self) -> dict[str, FormField]:
        """Every field of the Connection form: the credentials (as ``credentials`` says), the API's
        base URL, then the provider's own (``connection_form``)."""
        if self.credentials == "client":
            fields = {"login": FormField("Client ID"), "password": FormField("Client secret")}
        else:
            fields = {"password": FormField("Service account token")}
        fields |= self.connection_form
        fields.setdefault("base_url", FormField("API base URL", description="The provider's API root, https"))
        return fields

    def endpoint_changes(self, requested: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
        """The fields that say where the credentials go (the Connection's ``schema``, ``host`` and
        ``port``, and :attr:`endpoint_extras` of its extra) whose value in ``requested`` differs from
        the ``stored`` Connection's, each given as a dict of those fields (extras at the top level)."""
        fields = ("schema", "host", "port", *self.endpoint_extras)
        return [f for f in fields if _endpoint_value(requested.get(f)) != _endpoint_value(stored.get(f))]

    def course_hosts(self, configured: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The hosts of a course's launch URL and of its image: a connector's ``url_hosts`` setting
        (``configured``) replaces the provider's own; images may also be on its image hosts."""
        launch = configured or self.url_hosts
        return launch, tuple(dict.fromkeys((*launch, *self.image_hosts)))

    def course_row(self, record: dict[str, Any]) -> dict[str, Any]:
        """The core's staging row (``catalogue.COURSE_COLUMNS``) of a screened course record."""
        raise NotImplementedError

    @property
    def identity_issuer(self) -> str:
        """Whose namespace the learner id is in (``lms.user_identities.issuer``): this provider's for
        an account of its own, none ('') for the enterprise's single sign-on subject."""
        return self.name if self.learner_id_kind == "provider_account" else ""

    @property
    def time_rule(self) -> TimeRule:
        return time_rule(self.time_spent_rule)

    @property
    def timestamps(self) -> TimestampEncoding:
        return timestamp_encoding(self.activity_timestamps)

    def time_spent_minutes(self, duration_minutes: Any, progress: Any, seconds_viewed: Any) -> Any:
        """The provider's time-spent rule, on scalars or numpy arrays (the pipeline calls this one)."""
        return self.time_rule.minutes(duration_minutes, progress, seconds_viewed)

    def require(self, conn: ConnectionLike) -> None:
        """Fail with the Connection's name when it lacks a credential or an extra the client needs."""
        require(conn, self.connection_extras, client_id=self.credentials == "client")

    def base_url(self, conn: ConnectionLike) -> str:
        return base_url_of(conn)

    def client_options(self, conn: ConnectionLike, overrides: Mapping[str, Any], **read: Any) -> dict[str, Any]:
        """A client's options from its Connection: the shared ones (timeouts, size caps, retry bounds),
        then each extra of ``read`` (its default's type; None: as given), then ``overrides``."""
        from lms_connectors.providers.http import client_options_from_extra

        extra = conn.extra_dejson
        own = {
            name: (extra.get(name) if default is None else type(default)(extra.get(name, default)))
            for name, default in read.items()
        }
        shared = client_options_from_extra(extra, conn.conn_id, self.label, self.concurrent_requests)
        return {**shared, **own, **overrides}

    # --- shared --------------------------------------------------------------
    def client(self, conn_id: str, **overrides: Any) -> ProviderClient:
        """The client of the Airflow Connection ``conn_id``."""
        from airflow.sdk import BaseHook

        return self.client_from_connection(BaseHook.get_connection(conn_id), **overrides)

    def client_from_fields(self, conn_id: str, fields: Mapping[str, Any], **overrides: Any) -> ProviderClient:
        """The client of a Connection given as :meth:`connection` writes it, without Airflow."""
        conn = StaticConnection(conn_id, fields.get("login"), fields.get("password"), dict(fields.get("extra") or {}))
        return self.client_from_connection(conn, **overrides)

    def env_names(self, prefix: str) -> dict[str, str]:
        """Connection field -> the environment variable that holds it in a compose deployment."""
        names = (
            {"base_url": "BASE_URL", "client_id": "CLIENT_ID", "client_secret": "CLIENT_SECRET"}
            if self.credentials == "client"
            else {"base_url": "BASE_URL", "client_secret": "TOKEN"}
        )
        names |= {
            extra: extra.upper() for extra in (*self.connection_extras, *self.optional_extras, *self.common_extras)
        }
        return {field: f"{prefix}_{suffix}" for field, suffix in names.items()}

    def connection(self, base_url: str, client_id: str, client_secret: str, **extras: Any) -> dict[str, Any]:
        """An Airflow Connection (JSON form) of this provider's own type (the form Admin > Connections
        shows for it; a Connection of type ``http`` with the same fields works as well)."""
        missing = [e for e in self.connection_extras if not extras.get(e)]
        if missing:
            raise ConnectionConfigError(f"{self.label}: the Connection needs extra {', '.join(missing)}")
        form = self.form()
        numbers = {}
        for name, value in extras.items():
            if name in form and form[name].number:
                try:
                    numbers[name] = float(value)
                except (TypeError, ValueError):
                    raise ConnectionConfigError(f"{self.label}: extra {name} must be a number, got {value!r}") from None
        return {
            "conn_type": self.conn_type,
            "login": client_id,
            "password": client_secret,
            "extra": {"base_url": base_url, **extras, **numbers},
        }

    def connection_from_env(self, env: Mapping[str, str], prefix: str) -> dict[str, Any]:
        names = self.env_names(prefix)
        extras = {e: env[names[e]] for e in self.connection_extras}
        extras |= {e: env[names[e]] for e in (*self.optional_extras, *self.common_extras) if env.get(names[e])}
        client_id = env[names["client_id"]] if "client_id" in names else ""
        return self.connection(env[names["base_url"]], client_id, env[names["client_secret"]], **extras)


def base_url_of(conn: ConnectionLike) -> str:
    extra = conn.extra_dejson
    if extra.get("base_url"):
        return str(extra["base_url"]).rstrip("/")
    host = (conn.host or "").rstrip("/")
    if not host:
        raise ConnectionConfigError(f"Connection {conn.conn_id!r}: set host (or extra.base_url)")
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    if conn.port:
        host = f"{host}:{conn.port}"
    return host


def require(conn: ConnectionLike, extras: tuple[str, ...], client_id: bool = True) -> None:
    """Fail with the Connection's name when it lacks the client id (``client_id``), the secret or an extra."""
    extra = conn.extra_dejson
    fields = [("login (client id)", conn.login)] if client_id else []
    secret = "password (client secret)" if client_id else "password (the service account's token)"
    missing = [
        name
        for name, value in (*fields, (secret, conn.password), *((f"extra.{e}", extra.get(e)) for e in extras))
        if not value
    ]
    if missing:
        raise ConnectionConfigError(f"Connection {conn.conn_id!r}: missing {', '.join(missing)}")


def exists(name: str) -> bool:
    """Whether a provider package of that name is installed (no import: parse time stays light).

    Only packages are providers: the seam's own modules (``http``, ``registry``) are not."""
    if not name.isidentifier():
        return False
    spec = importlib.util.find_spec(f"{__name__}.{name}")
    return spec is not None and spec.submodule_search_locations is not None


def _endpoint_value(value: Any) -> str:
    """A field's value as endpoints compare: blank and absent alike, no trailing slash, the case
    of a host name ignored (a path's case matters, but a change of it sends nothing elsewhere)."""
    if value is None or value == 0:  # the UI sends port 0 for none (airflow_fixes)
        return ""
    return str(value).strip().rstrip("/").lower()


def by_conn_type(conn_type: str | None) -> Provider | None:
    """The provider whose Connection type is ``conn_type``, or None."""
    return next((p for p in map(get, names()) if p.conn_type == conn_type), None)


def get(name: str) -> Provider:
    """The provider of a registry entry."""
    if not exists(name):
        raise ValueError(f"no provider package lms_connectors.providers.{name}")
    provider = importlib.import_module(f"{__name__}.{name}").PROVIDER
    if not isinstance(provider, Provider):
        raise TypeError(f"lms_connectors.providers.{name}.PROVIDER is not a Provider")
    return provider


def names() -> list[str]:
    """Every installed provider package."""
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)
