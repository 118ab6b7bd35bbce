"""The one classification point and the retry policy as data."""

from __future__ import annotations

import datetime as dt
import email.utils
import ssl

import httpx
import pytest

from passback.oneroster.policy import Decision, RetryPolicy, classify, parse_retry_after

REQ = httpx.Request("PUT", "https://sis.example.org/x")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, "ok"),
        (201, "ok"),
        (204, "ok"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (504, "retry"),
        (400, "reject"),
        (404, "reject"),
        (409, "reject"),
        (422, "reject"),
        (405, "reject"),
        (501, "reject"),
        (401, "auth"),
        (403, "forbidden"),
    ],
)
def test_status_table(status: int, kind: str) -> None:
    assert classify(httpx.Response(status)).kind == kind


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectTimeout("t", request=REQ), "timeout"),
        (httpx.ReadTimeout("t", request=REQ), "timeout"),
        (httpx.WriteTimeout("t", request=REQ), "timeout"),
        (httpx.PoolTimeout("t", request=REQ), "timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused", request=REQ), "connect"),
        (httpx.ConnectError("[Errno -2] Name or service not known", request=REQ), "dns"),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=REQ), "tls"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response.", request=REQ), "dropped"),
        (httpx.ReadError("reset", request=REQ), "network"),
        (httpx.WriteError("broken pipe", request=REQ), "network"),
    ],
)
def test_network_failures_retry(exc: Exception, reason: str) -> None:
    assert classify(exc) == Decision("retry", reason)


def test_tls_error_as_cause_is_tls() -> None:
    exc = httpx.ConnectError("handshake failed", request=REQ)
    exc.__cause__ = ssl.SSLCertVerificationError("bad cert")
    assert classify(exc).reason == "tls"


@pytest.mark.parametrize("exc", [httpx.UnsupportedProtocol("ftp", request=REQ), ValueError("bug"), KeyError("x")])
def test_non_network_errors_are_fatal(exc: Exception) -> None:
    assert classify(exc).kind == "fatal"


def test_retry_after_delta_seconds_and_fractions() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


def test_retry_after_http_date() -> None:
    now = dt.datetime(2026, 1, 5, 12, 0, 0, tzinfo=dt.UTC)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)
    earlier = email.utils.format_datetime(now - dt.timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


def test_retry_after_is_carried_as_hint_for_any_retriable_status() -> None:
    assert classify(httpx.Response(429, headers={"Retry-After": "3"})).delay_hint == 3.0
    assert classify(httpx.Response(503, headers={"Retry-After": "2"})).delay_hint == 2.0
    assert classify(httpx.Response(503)).delay_hint is None


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap=60.0)
    assert policy.delay(1, Decision("retry", "429", 3600.0)) == 60.0
    assert policy.delay(1, Decision("retry", "429", 4.0)) == 4.0


def test_backoff_grows_exponentially_up_to_max_delay() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=20.0, rand=lambda: 1.0)
    delays = [policy.delay(n, Decision("retry", "503")) for n in range(1, 11)]
    assert delays[:5] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])
    assert delays == sorted(delays)
    assert max(delays) == 20.0


def test_full_jitter_stays_within_the_ceiling() -> None:
    import random

    rng = random.Random(7)
    policy = RetryPolicy(rand=rng.random)
    for n in range(1, 9):
        samples = [policy.delay(n, Decision("retry", "500")) for _ in range(200)]
        assert all(0.0 <= s <= policy.backoff_ceiling(n) for s in samples)
        assert max(samples) > 0.5 * policy.backoff_ceiling(n)  # jitter spreads over the range


def test_stated_budget() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 6
    assert policy.worst_case_wait == pytest.approx(0.2 + 0.4 + 0.8 + 1.6 + 3.2)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
