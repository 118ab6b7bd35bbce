"""THE one place that decides what a response or an exception means, and how long to wait.

    ok         2xx that is the expected answer (``Expect``: for a write, empty or that item in its
               envelope; for a read, JSON; for the token endpoint, a token)
    foreign    an answer that is not a OneRoster answer: an HTML page (a login page, a proxy), a
               2xx that is not JSON or JSON of another shape, another item's acknowledgement.
               Never an acknowledgement, never retried: the caller stops (reads, tokens) or
               stops after a few (writes), recording nothing for them
    redirect   3xx: the configured URL is not the API's (a configuration error; the district stops)
    retry      408, 429, 500, 502, 503, 504; timeouts; connection errors (connect, DNS, TLS,
               dropped connection / RemoteProtocolError, read/write errors)
    auth       401: refresh the token once, then CredentialsRejected
    forbidden  403: AccessForbidden (licence or scope; the district stops)
    reject     any other status with a OneRoster (JSON or empty) body, and an OAuth ``{"error": ...}``
               body from the token endpoint whatever its status: the SIS's verdict on this request
               (a write returns it, never retried)
    fatal      not a network failure (a bug or a configuration error such as an unsupported URL scheme)

The attempt budget is ``RetryPolicy.max_attempts`` attempts per request (the first included),
sleeping ``min(max_delay, base_delay * 2**(n-1))`` times a uniform random factor (full jitter)
after the n-th failure, or the server's ``Retry-After`` (delta seconds or HTTP-date) capped at
``retry_after_cap``.  Retrying a PUT or DELETE is safe: PUT is idempotent create-or-replace.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from passback.oneroster.models import parse_status

DecisionKind = Literal["ok", "retry", "reject", "auth", "forbidden", "fatal", "foreign", "redirect"]
RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
_DNS_HINTS = (
    "name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "temporary failure in name resolution",
    "no address associated",
)


@dataclass(frozen=True, slots=True)
class Decision:
    kind: DecisionKind
    reason: str = ""  # stats key: "429", "503", "timeout", "connect", "dns", "tls", "dropped" ...
    delay_hint: float | None = None  # seconds the server asked us to wait (Retry-After), uncapped


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header, delta-seconds or HTTP-date form; None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN / inf
        return None
    return max(seconds, 0.0)


def _exception_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLError) or "certificate" in text or "ssl" in text:
            return "tls"
        if any(hint in text for hint in _DNS_HINTS):
            return "dns"
        return "connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "dropped"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "network"
    return "transport"


@dataclass(frozen=True, slots=True)
class Expect:
    """What a 2xx answer must be for a request to count as done.

    ``item``: a write of ``envelope`` ``sourced_id`` — an empty body, ``{envelope: {...}}`` whose
    sourcedId (when present) is the item's, or a OneRoster status whose codeMajor is success.
    ``json``: a read — a JSON object or array.  ``token``: the token endpoint — JSON; an OAuth
    ``{"error": ...}`` body is a refusal (reject) even with a 200.  ``None`` (``classify``
    without ``expect``): any 2xx."""

    kind: Literal["item", "json", "token"]
    envelope: str = ""
    sourced_id: str = ""


READ = Expect("json")
TOKEN = Expect("token")


def is_html(response: httpx.Response) -> bool:
    if "html" in response.headers.get("content-type", "").lower():
        return True
    return response.content[:64].lstrip()[:1] == b"<"


def _json(response: httpx.Response) -> tuple[bool, Any]:
    try:
        return True, json.loads(response.content)
    except ValueError:
        return False, None


def _foreign_2xx(response: httpx.Response, expect: Expect) -> Decision | None:
    """None when a 2xx is the expected answer, else the decision naming what it was instead."""
    body = response.content
    if expect.kind == "item" and not body.strip():
        return None
    if is_html(response):
        return Decision("foreign", "html")
    ok, data = _json(response)
    if not ok:
        return Decision("foreign", "not_json")
    if expect.kind == "json":
        return None if isinstance(data, dict | list) else Decision("foreign", "shape")
    if expect.kind == "token":
        if isinstance(data, dict) and "error" in data:
            return Decision("reject", "oauth_error")
        return (
            None
            if isinstance(data, dict) and isinstance(data.get("access_token"), str)
            else Decision("foreign", "shape")
        )
    if not isinstance(data, dict):
        return Decision("foreign", "shape")
    inner = data.get(expect.envelope)
    if isinstance(inner, dict):
        sid = inner.get("sourcedId")
        return None if sid is None or str(sid) == expect.sourced_id else Decision("foreign", "sourced_id")
    major = (parse_status(data).code_major or "").lower()
    if major == "success":
        return None
    return Decision("foreign", "failure_status" if major else "shape")


def classify(outcome: httpx.Response | BaseException, expect: Expect | None = None) -> Decision:
    """What to do about a response (a 2xx is checked against ``expect``) or an exception raised
    while sending a request."""
    if isinstance(outcome, httpx.Response):
        status = outcome.status_code
        if 200 <= status < 300:
            return (_foreign_2xx(outcome, expect) if expect is not None else None) or Decision("ok")
        if 300 <= status < 400:
            return Decision("redirect", str(status))
        if status in RETRY_STATUSES:
            return Decision("retry", str(status), parse_retry_after(outcome.headers.get("retry-after")))
        if status == 401:
            return Decision("auth", "401")
        if status == 403:
            return Decision("forbidden", "403")
        if expect is not None and is_html(outcome):
            return Decision("foreign", "html")  # a 404 page of a proxy is not the SIS's verdict on an item
        return Decision("reject", str(status))
    if isinstance(outcome, httpx.UnsupportedProtocol | httpx.ProxyError):
        return Decision("fatal", type(outcome).__name__)
    if isinstance(outcome, httpx.TransportError):
        return Decision("retry", _exception_reason(outcome))
    return Decision("fatal", type(outcome).__name__)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry policy as data.  ``sleep``/``clock``/``rand`` are injectable so tests run instantly."""

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 20.0
    retry_after_cap: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=_sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff_ceiling(self, failures: int) -> float:
        """The upper bound of the wait after the ``failures``-th failure (1-based)."""
        return min(self.max_delay, self.base_delay * 2 ** max(failures - 1, 0))

    def delay(self, failures: int, decision: Decision) -> float:
        """Seconds to wait before the next attempt: Retry-After (capped) if given, else full jitter."""
        if decision.delay_hint is not None:
            return min(decision.delay_hint, self.retry_after_cap)
        return self.rand() * self.backoff_ceiling(failures)

    @property
    def worst_case_wait(self) -> float:
        """The longest a request can spend sleeping without Retry-After (the stated budget)."""
        return sum(self.backoff_ceiling(n) for n in range(1, self.max_attempts))
