"""The learner hash: HMAC-SHA256 of the normalised email, under whichever key it is given."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from lms_connectors.privacy.pseudonym import identity_hash, learner_hash, normalise_email

KEYS = st.binary(min_size=32, max_size=96)


def test_the_hash_is_hmac_sha256_as_published():
    # RFC 4231, test case 2 (the data is already trimmed and lower-case).
    assert learner_hash(b"Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


@given(st.lists(st.tuples(KEYS, st.emails()), min_size=1, max_size=6))
def test_each_hash_is_its_own_key_and_email_whatever_came_before(pairs):
    """Keys interleaved in any order: a hash never carries anything of an earlier key or email."""
    for key, email in pairs:
        expected = hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()
        assert learner_hash(key, email) == expected


@given(KEYS, st.emails())
def test_case_and_surrounding_spaces_do_not_change_the_hash(key, email):
    assert learner_hash(key, f"  {email.upper()} ") == learner_hash(key, email)


@given(KEYS, st.one_of(st.none(), st.integers(), st.just(""), st.just("   "), st.just("a\x00b@example.com")))
def test_no_email_the_guard_refuses_gets_a_hash(key, value):
    assert learner_hash(key, value) is None


KINDS = st.sampled_from([("sso_subject", ""), ("provider_account", "skillsoft_percipio")])
IDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=60).filter(str.strip)


@given(KEYS, KINDS, IDS)
def test_an_id_is_hashed_trimmed_but_exactly_and_never_as_an_email(key, kind_issuer, value):
    """An SSO subject may be case-sensitive: only surrounding spaces go. The kind and the issuer are
    hashed with the id, so no id's hash equals an email's, nor the same id's of another kind."""
    kind, issuer = kind_issuer
    hashed = identity_hash(key, kind, issuer, value)
    assert hashed == hmac.new(key, f"{kind}\0{issuer}\0{value.strip()}".encode(), hashlib.sha256).hexdigest()
    assert identity_hash(key, kind, issuer, f" {value} ") == hashed
    assert hashed != learner_hash(key, value)
    other = ("provider_account", "linkedin_learning") if kind == "sso_subject" else ("sso_subject", "")
    assert identity_hash(key, *other, value) != hashed
    if value.strip().swapcase() != value.strip():
        assert identity_hash(key, kind, issuer, value.swapcase()) != hashed


@given(KEYS, st.one_of(st.none(), st.integers(), st.just(""), st.just("  "), st.just("a\x00b"), st.just("x" * 256)))
def test_no_id_the_guard_refuses_gets_a_hash(key, value):
    assert identity_hash(key, "sso_subject", "", value) is None
