"""Data-quality rules as great-expectations suites.

Row rules name the reason a record is quarantined (``ops.rejected_records``);
the first rule a row breaks is its reason. Batch rules fail the whole batch
before any target table changes. great-expectations is imported lazily (it
takes seconds and floods the log at import), never at DAG parse time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Rule:
    """One expectation: ``reason`` is what a failing row is quarantined for, ``detail`` says why."""

    reason: str
    expectation: str  # class name in great_expectations.expectations
    kwargs: dict[str, Any]
    detail: str = ""


def web_url(hosts: tuple[str, ...]) -> str:
    """The launch and image URLs a course may carry: https, on one of ``hosts`` or a subdomain,
    no user name or password, no quote, angle bracket, backslash or space anywhere. The START
    button must never run a script, open a local file or send the learner to another site."""
    names = "|".join(re.escape(h) for h in sorted(hosts))
    return rf"(?i)^https://(?:[a-z0-9-]+\.)*(?:{names})(?::[0-9]{{1,5}})?(?:[/?#][^\s\"'<>\\`]*)?$"


# Why a course's image was dropped (the course itself is kept: an image is decoration).
IMAGE_DROPPED = "invalid_image_url"


def image_drop_detail(hosts: tuple[str, ...]) -> str:
    return f"image URL is not an https URL on {', '.join(hosts)}"


def images_to_drop(urls: pd.Series, hosts: tuple[str, ...]) -> pd.Series:
    """Which images a course cannot show (aligned with ``urls``): set, but not an https URL on
    ``hosts`` by the same rule as launch URLs (:func:`web_url`). The course keeps its place
    without it; only the launch URL is a reason to quarantine a course."""
    pattern = re.compile(web_url(hosts))
    return pd.Series(
        [u is not None and u == u and not (isinstance(u, str) and pattern.match(u)) for u in urls],
        index=urls.index,
        dtype=bool,
    )


@functools.cache
def course_row_rules(url_hosts: tuple[str, ...]) -> tuple[Rule, ...]:
    from lms_connectors.rules.settings import iso_639_1_codes

    return (
        Rule("missing_id", "ExpectColumnValuesToNotBeNull", {"column": "provider_course_id"}, "no course id"),
        Rule("missing_title", "ExpectColumnValuesToNotBeNull", {"column": "title"}, "no title"),
        Rule("missing_title", "ExpectColumnValuesToMatchRegex", {"column": "title", "regex": r"\S"}, "blank title"),
        Rule("invalid_language", "ExpectColumnValuesToNotBeNull", {"column": "language"}, "no language"),
        Rule(
            "invalid_language",
            "ExpectColumnValuesToBeInSet",
            {"column": "language", "value_set": list(iso_639_1_codes())},
            "language is not an ISO 639-1 code",
        ),
        Rule("invalid_status", "ExpectColumnValuesToNotBeNull", {"column": "provider_status"}, "no status"),
        Rule(
            "invalid_status",
            "ExpectColumnValuesToMatchRegex",
            {"column": "provider_status", "regex": r"^[a-z0-9][a-z0-9_-]*$"},
            "status is not a lower-case code",
        ),
        Rule("invalid_duration", "ExpectColumnValuesToNotBeNull", {"column": "duration_minutes"}, "no duration"),
        Rule(
            "invalid_duration",
            "ExpectColumnValuesToBeBetween",
            {"column": "duration_minutes", "min_value": 1, "max_value": 60 * 24 * 60},
            "duration outside 1 minute to 60 days",
        ),
        Rule("missing_url", "ExpectColumnValuesToNotBeNull", {"column": "launch_url"}, "no launch URL"),
        Rule(
            "invalid_url",
            "ExpectColumnValuesToMatchRegex",
            {"column": "launch_url", "regex": web_url(url_hosts)},
            f"launch URL is not an https URL on {', '.join(url_hosts)}",
        ),
        Rule("invalid_updated_at", "ExpectColumnValuesToNotBeNull", {"column": "provider_updated_at"}, "no updated_at"),
    )


PROGRESS_ROW_RULES: tuple[Rule, ...] = (
    Rule("missing_learner", "ExpectColumnValuesToNotBeNull", {"column": "learner_hash"}, "no learner email"),
    Rule("missing_course_id", "ExpectColumnValuesToNotBeNull", {"column": "provider_course_id"}, "no course id"),
    Rule("invalid_updated_at", "ExpectColumnValuesToNotBeNull", {"column": "provider_updated_at"}, "no updated_at"),
    # The provider returns updated_at in [since, until); a record outside would
    # land on a day the run does not own (validate_progress computes in_interval).
    Rule(
        "outside_interval",
        "ExpectColumnValuesToBeInSet",
        {"column": "in_interval", "value_set": [True]},
        "updated_at outside the run's interval",
    ),
    Rule("progress_out_of_range", "ExpectColumnValuesToNotBeNull", {"column": "progress_pct"}, "no progress"),
    Rule(
        "progress_out_of_range",
        "ExpectColumnValuesToBeBetween",
        {"column": "progress_pct", "min_value": 0, "max_value": 100},
        "progress outside 0-100",
    ),
    Rule("unknown_course", "ExpectColumnValuesToNotBeNull", {"column": "lms_course_id"}, "course not in the catalogue"),
)


def rules_digest(rules: tuple[Rule, ...], *extra: Any) -> str:
    """A digest of ``rules`` (and of ``extra`` values that decide what they let through) and of
    great-expectations' version: equal digests check rows alike."""
    import hashlib
    import json

    spec = [[r.reason, r.expectation, r.kwargs, r.detail] for r in rules]
    text = json.dumps([spec, list(extra), import_gx().__version__], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def import_gx() -> Any:
    """great_expectations, imported once per process with its start-up logging kept quiet."""
    # Before the import: GX logs hundreds of lines while registering its functions.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


@functools.cache
def gx_context() -> Any:
    gx = import_gx()
    ctx = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # Progress bars would land in task logs at error level.
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


@dataclasses.dataclass(frozen=True)
class RulesCheck:
    """An expectation suite on a batch definition; each :meth:`run` validates the batch its
    parameters give (``Batch.validate``) and keeps nothing.

    Not a ``ValidationDefinition``: its ``run`` also checks that the context's stores hold it and
    stores every result in the context (in memory here, where nothing reads them): twice the time
    of ``Batch.validate`` on 300 rows (0.20 s against 0.11 s, medians of 15 on this machine)."""

    batch: Any
    suite: Any

    def run(self, *, result_format: Any, batch_parameters: dict[str, Any] | None = None) -> Any:
        batch = self.batch.get_batch(batch_parameters=batch_parameters)
        with _configurations_built_once():
            return batch.validate(self.suite, result_format=result_format)


@contextlib.contextmanager
def _configurations_built_once() -> Iterator[None]:
    """Within one validation, each expectation's ``configuration`` built once instead of on every read.

    great-expectations 1.x rebuilds it (a pydantic ``dict()`` and a new ``ExpectationConfiguration``)
    each time the property is read, and a validation reads it about 50 times per expectation while
    resolving its metrics: 45 % of a validation's time in a profile of the hostile-records test
    (8.6 of 17.1 s). Nothing changes an expectation during a validation (great-expectations copies a
    configuration before altering it), so the first build is the value of every later read. The
    property is restored when the validation ends; a build is cached for its own object only. The
    property is the class's: validations of one process take the lock, one at a time, so none
    restores it under another or keeps another's cache."""
    from great_expectations.expectations.expectation import Expectation

    with _CONFIGURATIONS_LOCK:
        built = Expectation.__dict__["configuration"]
        cache: dict[int, tuple[Any, Any]] = {}

        def configuration(expectation: Any) -> Any:
            hit = cache.get(id(expectation))
            if hit is None or hit[0] is not expectation:
                hit = cache[id(expectation)] = (expectation, built.fget(expectation))
            return hit[1]

        Expectation.configuration = property(configuration)  # type: ignore[method-assign]
        try:
            yield
        finally:
            Expectation.configuration = built  # type: ignore[method-assign]


_CONFIGURATIONS_LOCK = threading.RLock()


_CHECKS: dict[tuple[str, tuple[int, ...] | None], RulesCheck] = {}


def _validation(name: str, rules: tuple[Rule, ...], only: tuple[int, ...] | None = None) -> RulesCheck:
    """The rules' check of an in-memory DataFrame, built once per process, name and rules."""
    if (name, only) in _CHECKS:
        return _CHECKS[name, only]
    named = f"{name}_{_suffix(only)}"
    asset = gx_context().data_sources.add_pandas(f"{named}_source").add_dataframe_asset(f"{named}_frame")
    check = rules_check(asset.add_batch_definition_whole_dataframe(f"{named}_batch"), rules, only)
    _CHECKS[name, only] = check
    return check


def _suffix(only: tuple[int, ...] | None) -> str:
    return "all" if only is None else "_".join(map(str, only))


def rules_check(batch: Any, rules: tuple[Rule, ...], only: tuple[int, ...] | None = None) -> RulesCheck:
    """The check of ``rules`` (those numbered ``only``, or all) on ``batch``, each expectation
    tagged with its rule's position (the first rule a row breaks is its reason)."""
    gx = import_gx()
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=f"rules_{_suffix(only)}")
    for i in range(len(rules)) if only is None else only:
        rule = rules[i]
        suite.add_expectation(getattr(gxe, rule.expectation)(**rule.kwargs, meta={"rule": i}))
    return RulesCheck(batch, suite)


def row_reasons(df: pd.DataFrame, rules: tuple[Rule, ...], name: str) -> pd.Series:
    """The first rule each row breaks (None where it breaks none), aligned with ``df``."""
    return row_rules(df, rules, name).map(lambda r: r.reason, na_action="ignore")


def row_rules(df: pd.DataFrame, rules: tuple[Rule, ...], name: str) -> pd.Series:
    """The first :class:`Rule` each row breaks (None where it breaks none), aligned with ``df``."""
    reasons = pd.Series([None] * len(df), index=df.index, dtype=object)
    if df.empty:
        return reasons
    frame = df.reset_index(drop=True)
    result = listing_failures(
        lambda only: _validation(name, rules, only), "COMPLETE", batch_parameters={"dataframe": frame}
    )
    for row, rule in (first_broken(result, rules, "unexpected_index_list") if result else {}).items():
        reasons.iloc[row] = rule
    return reasons


def listing_failures(
    validation_of: Callable[[tuple[int, ...] | None], RulesCheck], result_format: Any, **run: Any
) -> Any:
    """The result of the rules a batch breaks, listing their failing rows as ``result_format`` asks,
    or None when it breaks none; ``validation_of(only)`` is the check of the rules numbered
    ``only`` (None: all). A first pass of every rule only counts failing rows: most batches break
    none, and GX spends about as long again listing rows (on 120 courses, 0.11 s counting and
    0.23 s listing); the second lists the rows of the broken rules alone."""
    counted = validation_of(None).run(result_format="BASIC", **run)
    broken = []
    for res in counted.results:
        _raise_if_not_evaluated(res)
        if not res.success:
            broken.append(int(res.expectation_config.meta["rule"]))
    return validation_of(tuple(sorted(broken))).run(result_format=result_format, **run) if broken else None


def row_rules_by_key(df: pd.DataFrame, key: str, rules: tuple[Rule, ...], name: str) -> dict[int, Rule]:
    """The first :class:`Rule` each failing row breaks, by its ``key`` column; the rules read every
    other column. The same shape as :func:`lms_connectors.warehouse.validation.database_row_rules`' answer."""
    broken = row_rules(df.drop(columns=[key]), rules, name)
    return {int(k): rule for k, rule in zip(df[key], broken, strict=True) if rule is not None}


def first_broken(result: Any, rules: tuple[Rule, ...], listed: str) -> dict[int, Rule]:
    """Each failing row's index (the row number, or the one index column's value) and the first
    rule it breaks, from a validation result whose ``listed`` entry lists the failing rows."""
    first: dict[int, int] = {}
    for res in result.results:
        _raise_if_not_evaluated(res)
        rule_no = int(res.expectation_config.meta["rule"])
        for idx in res.result.get(listed) or []:
            row = int(idx if not isinstance(idx, dict) else next(iter(idx.values())))
            if row not in first or rule_no < first[row]:
                first[row] = rule_no
    return {row: rules[rule_no] for row, rule_no in first.items()}


def _raise_if_not_evaluated(res: Any) -> None:
    """An expectation GX could not evaluate lists no failing row: that must fail the check, not pass it."""
    info = res.exception_info or {}
    # One entry, or one per metric GX computed for the expectation.
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            raise RuntimeError(
                f"great-expectations could not evaluate {res.expectation_config.type}: {entry.get('exception_message')}"
            )


UNIQUE_IDS: tuple[Rule, ...] = (Rule("duplicate_id", "ExpectColumnValuesToBeUnique", {"column": "id"}),)


def batch_failures(ids: pd.Series, rejected: int, total: int, max_reject_share: float, entity: str) -> list[str]:
    """Batch rules: ids unique among accepted rows, and a bounded share of rejects (a single reject always passes)."""
    failures = []
    ids = ids.reset_index(drop=True)
    dupes = row_reasons(pd.DataFrame({"id": ids}), UNIQUE_IDS, f"{entity}_batch")
    if dupes.notna().any():
        listed = ", ".join(sorted({str(v) for v in ids[dupes.notna()]})[:5])
        failures.append(f"the provider listed {entity} ids more than once: {listed}")
    share = rejected / total if total else 0.0
    # One record never stops a run: a small tenant's day may hold a handful of
    # records, where one bad record is a large share. The share guards against
    # a provider whose output broke as a whole, which is more than one record.
    if rejected > 1 and share > max_reject_share:
        failures.append(
            f"{rejected} of {total} {entity} records ({share:.1%}) break a row rule, above the "
            f"max_reject_share setting ({max_reject_share:.1%})"
        )
    return failures
