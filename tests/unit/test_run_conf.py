"""Run conf keys: an undeclared key is refused in one line naming it and the accepted ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lms_connectors.orchestration.steps import unknown_conf_keys

ACCEPTED = ("delete_unreported_rows", "initial_load_days", "override_mass_archive")


def test_declared_keys_and_no_conf_pass():
    assert unknown_conf_keys(None, ACCEPTED) is None
    assert unknown_conf_keys({}, ACCEPTED) is None
    assert unknown_conf_keys({"initial_load_days": 3, "override_mass_archive": True}, ACCEPTED) is None


def test_a_misspelt_key_is_named_with_the_accepted_ones():
    assert unknown_conf_keys({"language": ["de"], "dryrun": False}, ["dry_run", "languages"]) == (
        "unknown keys in the run's conf: dryrun, language; accepted: dry_run, languages"
    )


@given(st.dictionaries(st.text(min_size=1), st.integers(), min_size=1))
def test_any_undeclared_key_is_refused_with_the_accepted_ones(conf):
    message = unknown_conf_keys(conf, ACCEPTED)
    undeclared = set(conf) - set(ACCEPTED)
    assert (message is None) == (not undeclared)
    if message:
        assert message.startswith("unknown key") and message.endswith(", ".join(ACCEPTED))
