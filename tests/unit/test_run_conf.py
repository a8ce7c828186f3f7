"""Run conf keys: an undeclared key is refused in one line naming it and the accepted ones."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from lms_connectors.health.conf_guard import refusal
from lms_connectors.orchestration.catalogue_sync import markdown_text
from lms_connectors.rules.run_conf import unknown_conf_keys

ACCEPTED = ("delete_unreported_rows", "initial_load_days", "override_mass_archive")


def test_declared_keys_and_no_conf_pass():
    assert unknown_conf_keys(None, ACCEPTED) is None
    assert unknown_conf_keys({}, ACCEPTED) is None
    assert unknown_conf_keys({"initial_load_days": 3, "override_mass_archive": True}, ACCEPTED) is None


def test_a_misspelt_key_is_named_with_the_accepted_ones():
    assert unknown_conf_keys({"language": ["de"], "dryrun": False}, ["dry_run", "languages"]) == (
        "unknown keys in the run's conf: 'dryrun' (did you mean 'dry_run'?), 'language' (did you mean 'languages'?); "
        "accepted: dry_run, languages"
    )


def test_a_key_holding_an_email_is_refused_without_showing_it():
    """A privacy request's conf pasted the wrong way round: the refusal, which Airflow logs, names no email."""
    message = unknown_conf_keys({"alice@example.com": True, "emails": []}, ["dry_run", "emails", "user_ids"])
    assert message == (
        "unknown key in the run's conf: <a key holding an email address>; accepted: dry_run, emails, user_ids"
    )


@given(st.dictionaries(st.text(min_size=1), st.integers(), min_size=1))
def test_the_trigger_request_is_refused_exactly_when_the_run_would_be(conf):
    """The API server's refusal (a 400 before any run exists) is the run's own, on the request's body."""
    body = json.dumps({"logical_date": None, "conf": conf}).encode()
    assert refusal(body, list(ACCEPTED)) == unknown_conf_keys(conf, ACCEPTED)
    assert refusal(body, None) is None  # a DAG the metadata database does not hold: Airflow answers 404
    assert refusal(b"not json", list(ACCEPTED)) is None


@given(st.dictionaries(st.text(min_size=1), st.integers(), min_size=1))
def test_any_undeclared_key_is_refused_with_the_accepted_ones(conf):
    message = unknown_conf_keys(conf, ACCEPTED)
    undeclared = set(conf) - set(ACCEPTED)
    assert (message is None) == (not undeclared)
    if message:
        assert message.startswith("unknown key") and message.endswith(", ".join(ACCEPTED))


@given(st.text(max_size=80))
def test_provider_text_in_the_approval_prompt_renders_as_itself(title):
    """A course title is the provider's: in the Markdown prompt it may carry no link, image, emphasis
    or HTML, nor start a line of its own."""
    shown = markdown_text(title)
    assert "\n" not in shown and "\r" not in shown
    # Every ASCII punctuation character is escaped: unescaping gives the title back, on one line.
    assert re.sub(r"\\(.)", r"\1", shown) == " ".join(title.split())
    assert not re.search(r"(?<!\\)[\[\]()<>*_`!#|]", shown)


def test_a_title_with_a_link_and_an_image_shows_them_as_text():
    assert markdown_text("[Free](https://evil.example) ![x](https://evil.example/p.png)\n# Big") == (
        r"\[Free\]\(https\:\/\/evil\.example\) \!\[x\]\(https\:\/\/evil\.example\/p\.png\) \# Big"
    )
