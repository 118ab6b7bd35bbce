"""The URL rule of a district (passback.store.urls), case by case."""

from __future__ import annotations

import pytest

from passback.store.urls import mask_userinfo, plain_http_host, url_problem


@pytest.mark.parametrize(
    "url",
    [
        "https://sis.example.org/ims/oneroster/v1p1",
        "https://sis.example.org:8443/x",
        "https://[2001:db8::1]/x",
        "http://127.0.0.1:8765/d1/ims/oneroster/v1p1",
        "http://127.200.3.4/x",
        "http://localhost/x",
        "http://LOCALHOST:1/x",
        "http://[::1]:65535/x",
    ],
)
def test_accepted(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://otus:pw@sis.example.org/x", "user name or password"),
        ("https://otus@sis.example.org/x", "user name or password"),
        ("http://sis.example.org/x", "plain http"),
        ("http://10.0.0.5/x", "plain http"),  # private is not loopback
        ("http://[::2]/x", "plain http"),
        ("https://sis.example.org:99999/x", "1 to 65535"),
        ("https://sis.example.org:0/x", "1 to 65535"),
        ("https://sis.example.org:-1/x", "1 to 65535"),
        ("https://[::1/ims", "IP address literal"),
        ("https://[not-an-ip]/x", "IP address literal"),
        ("https:///x", "names no host"),
        ("ftp://sis.example.org/x", "not an http(s) URL"),
        ("sis.example.org/x", "not an http(s) URL"),
        ("https://sis.example.org/x y", "without spaces"),
        ("", "not a URL"),
    ],
)
def test_refused_with_what_to_fix(url: str, words: str) -> None:
    problem = url_problem(url)
    assert problem is not None and words in problem
    assert "pw@" not in problem  # the password is never repeated


def test_plain_http_to_a_remote_host_only_with_the_opt_in() -> None:
    assert url_problem("http://sis.test.internal/x", allow_http=True) is None
    assert plain_http_host("http://sis.test.internal/x") == "sis.test.internal"
    assert plain_http_host("http://127.0.0.1/x") is None and plain_http_host("https://sis.example.org/x") is None
    assert url_problem("https://u:p@h/x", allow_http=True) is not None  # the opt-in never allows a password


def test_passwords_in_urls_are_masked_anywhere_in_a_text() -> None:
    text = "GET https://otus:hunter2@sis.example.org/x failed; token at http://a@b/t"
    assert mask_userinfo(text) == "GET https://***@sis.example.org/x failed; token at http://***@b/t"
