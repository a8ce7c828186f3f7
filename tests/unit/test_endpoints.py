"""Which endpoints a provider client accepts to send credentials to (no request is made)."""

from __future__ import annotations

import pytest

from lms_connectors.providers.http import check_endpoint, origin
from lms_connectors.providers.linkedin_learning.client import LinkedInLearningClient
from lms_connectors.providers.openclassrooms.client import OpenClassroomsClient
from lms_connectors.rules.errors import ConnectionConfigError


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openclassrooms.com",
        "https://api.linkedin.com:443/v2",
        "http://127.0.0.1:8081",
        "http://127.5.6.7",
        "http://localhost:9000",
        "http://[::1]:8081",
    ],
)
def test_https_and_loopback_endpoints_are_accepted(url):
    check_endpoint(url, "base_url")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://api.openclassrooms.com", "must be https"),
        ("http://10.0.0.8:8081", "must be https"),
        ("http://127.0.0.1.evil.example", "must be https"),
        ("https://user:pw@api.linkedin.com", "user name or password"),
        ("ftp://api.linkedin.com", "absolute https URL"),
        ("api.linkedin.com", "absolute https URL"),
        ("https://", "absolute https URL"),
    ],
)
def test_other_endpoints_are_refused(url, problem):
    with pytest.raises(ConnectionConfigError, match=problem):
        check_endpoint(url, "base_url")


def test_plain_http_hosts_name_the_only_other_exceptions():
    check_endpoint("http://simulator:8081", "base_url", frozenset({"simulator"}))
    with pytest.raises(ConnectionConfigError, match="plain_http_hosts"):
        check_endpoint("http://simulator-2:8081", "base_url", frozenset({"simulator"}))


def test_clients_check_their_base_and_token_urls():
    with pytest.raises(ConnectionConfigError, match="base_url must be https"):
        OpenClassroomsClient("http://api.example.com", "id", "secret", "org")
    with pytest.raises(ConnectionConfigError, match="token_url must be https"):
        LinkedInLearningClient("https://api.linkedin.com", "id", "secret", token_url="http://www.linkedin.com/token")
    LinkedInLearningClient("https://api.linkedin.com", "id", "secret", token_url="https://www.linkedin.com/oauth")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://api.example.com/x", "https://API.example.com:443/y?z", True),
        ("http://127.0.0.1:8081/a", "http://127.0.0.1:8082/a", False),
        ("https://api.example.com", "http://api.example.com", False),
        ("https://api.example.com", "https://api.example.com.evil.example", False),
    ],
)
def test_origins(a, b, same):
    assert (origin(a) == origin(b)) is same
