"""Which launch and image URLs a course may carry: https, on the provider's hosts, nothing hidden."""

from __future__ import annotations

import re

import pytest

from lms_connectors import providers
from lms_connectors.rules.quality import web_url

HOSTS = ("openclassrooms.com", "oc-static.com")


@pytest.mark.parametrize(
    "url",
    [
        "https://openclassrooms.com/fr/courses/1000084-python",
        "https://www.openclassrooms.com/en/courses/1?utm=x#part-2",
        "https://user.oc-static.com/courses/1000084.jpg",
        "HTTPS://OpenClassrooms.com:443/x",
    ],
)
def test_https_urls_on_the_providers_hosts_pass(url):
    assert re.match(web_url(HOSTS), url)


@pytest.mark.parametrize(
    "url",
    [
        "http://openclassrooms.com/fr/courses/1",  # not https
        "https://evil.example/courses/1",  # another host
        "https://openclassrooms.com.evil.example/x",  # a host that only starts like it
        "https://evilopenclassrooms.com/x",  # a host that only ends like it
        "https://user:pw@openclassrooms.com/x",  # userinfo
        "https://openclassrooms.com@evil.example/x",  # userinfo that looks like the host
        'https://openclassrooms.com/x"onmouseover="alert(1)',  # a quote
        "https://openclassrooms.com/x'y",
        "https://openclassrooms.com/<script>",
        "https://openclassrooms.com/a\\b",
        "https://openclassrooms.com/a b",
        "javascript:alert(1)",
        "//openclassrooms.com/x",
    ],
)
def test_other_urls_are_refused(url):
    assert not re.match(web_url(HOSTS), url)


def test_every_provider_names_its_hosts():
    for name in providers.names():
        assert providers.get(name).url_hosts, name
