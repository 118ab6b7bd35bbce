"""THE request loop of a district's client: every request goes through ``RequestLoop.send`` —
API reads and writes and the token endpoint alike (the token endpoint is just another request,
as in openai-python's ``_base_client``).

One attempt is bounded (``Bounds``): a total deadline for the whole exchange (connect, head and
body — not per read, so a body dripping one byte at a time ends at the deadline) and a maximum
body size (the body is streamed and reading stops beyond it).  Each answer is classified by
``policy.classify`` against what the request expects; the loop then returns it (ok, reject,
foreign), retries it (retry; auth once, with a fresh token), or raises the error that says what
to do.  Errors are raised outside ``except`` blocks: no exception chain carries a body or a header.

A host that never answered and fails on DNS or TLS is unreachable at once (a retry cannot fix a
name or a certificate); other transport failures of a never-answering host end, after the
budget, as ``SisUnreachable`` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import httpx

from passback.oneroster.errors import (
    AccessForbidden,
    BoundExceeded,
    CredentialsRejected,
    OneRosterError,
    SisRedirected,
    SisUnreachable,
    TransientExhausted,
    redact,
    request_id,
)
from passback.oneroster.models import parse_status
from passback.oneroster.outcomes import ClientStats
from passback.oneroster.policy import Decision, Expect, RetryPolicy, classify
from passback.oneroster.rate import RateGate
from passback.oneroster.transport import SisHttpClient

log = logging.getLogger("passback.oneroster")

MAX_RESPONSE_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Bounds:
    """Per-attempt bounds: ``deadline_s`` for the whole exchange, ``max_bytes`` of body."""

    deadline_s: float = 30.0
    max_bytes: int = MAX_RESPONSE_BYTES


class Auth(Protocol):
    """How a request is authorised: its headers for one attempt, and what a 401 means."""

    refreshable: bool

    async def headers(self) -> tuple[object, dict[str, str]]: ...
    async def refresh(self, used: object) -> None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    response: httpx.Response
    attempts: int
    decision: Decision


class _TooLarge(Exception):
    def __init__(self, size: int, declared: bool) -> None:
        self.size, self.declared = size, declared


class _BodyTooSlow(Exception):
    def __init__(self, received: int) -> None:
        self.received = received


async def exchange(http: SisHttpClient, request: httpx.Request, bounds: Bounds) -> httpx.Response:
    """Send ``request`` and read its whole answer within the bounds.  No head before the deadline
    is a timeout (retriable); a head whose body does not finish in time is ``_BodyTooSlow``."""
    head = False
    received = 0
    try:
        async with asyncio.timeout(bounds.deadline_s):
            response = await http.exchange(request)
            head = True
            try:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > bounds.max_bytes:
                    raise _TooLarge(int(declared), True)
                chunks: list[bytes] = []
                # an answer sent as it is: read from the transport's stream, not through httpx's
                # decoder and chunker layers (each one a generator per chunk); an encoded one is decoded
                encoded = "content-encoding" in response.headers
                body = response.aiter_bytes() if encoded else cast(AsyncIterable[bytes], response.stream)
                async for chunk in body:
                    received += len(chunk)
                    if received > bounds.max_bytes:
                        raise _TooLarge(received, False)
                    chunks.append(chunk)
                response._content = b"".join(chunks)  # what Response.aread() does, bounded
            finally:
                await response.aclose()
    except TimeoutError:
        if not head:
            raise httpx.ReadTimeout(f"no answer within the {bounds.deadline_s:g} s deadline", request=request) from None
        raise _BodyTooSlow(received) from None
    return response


@contextlib.asynccontextmanager
async def time_budget(district_id: str, host: str, seconds: float, what: str) -> AsyncIterator[None]:
    """A group of requests that must end within ``seconds``: past it they are cancelled and
    ``BoundExceeded`` names the district (the pre-flight reads; later a reconcile read-back)."""
    expired = False
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        expired = True
    if expired:
        raise BoundExceeded(
            f"{what} for district {district_id} did not finish within their {seconds:g} s time "
            f"budget — the SIS at {host} is too slow or its paging does not end; check it, then rerun",
            district_id=district_id,
        )


class RequestLoop:
    def __init__(
        self,
        district_id: str,
        http: SisHttpClient,
        policy: RetryPolicy,
        bounds: Bounds,
        stats: ClientStats,
        gate: RateGate,
        secrets: Callable[[], list[str]],
    ) -> None:
        self.district_id = district_id
        self.http = http
        self.policy = policy
        self.bounds = bounds
        self.stats = stats
        self.gate = gate
        self.secrets = secrets  # every secret and token form, redacted from each excerpt
        self.token_host = ""  # named by CredentialsRejected (set by the token source)
        self.contacted: set[str] = set()  # hosts that ever answered

    def __repr__(self) -> str:
        return f"RequestLoop(district_id={self.district_id!r})"

    def context(self, response: httpx.Response | None) -> dict[str, Any]:
        """status, request id and a redacted excerpt of the body, for an error."""
        if response is None:
            return {}
        return {
            "status": response.status_code,
            "request_id": request_id(response.headers),
            "body_excerpt": redact(str(parse_status(response.content)), self.secrets()),
        }

    async def send(
        self,
        method: str,
        url: str,
        *,
        expect: Expect | None,
        auth: Auth,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        api: bool = True,
    ) -> Reply:
        """Send with auth, pacing (``api``) and retries; returns the reply for an ok, a reject or a
        foreign answer (and a 401/403 from a non-refreshable auth: the token endpoint's refusal);
        raises for the rest.  ``api``: an API request (paced, counted) rather than a token request."""
        policy, gate, stats = self.policy, self.gate, self.stats
        host = urlsplit(url).netloc or url
        what = f"{method} {urlsplit(url).path}" if api else f"the token request to {host}"
        refreshed = False
        failures = 0
        for attempt in range(1, policy.max_attempts + 2):  # +1: the one re-send after a token refresh
            sent_at = await gate.acquire() if api else policy.clock()
            used, auth_headers = await auth.headers()
            request = self.http.request_for(
                method, url, params=params, content=content, headers={**(headers or {}), **auth_headers}
            )
            if api:
                stats.requests += 1
            response: httpx.Response | None = None
            error: BaseException | None = None
            started = time.perf_counter()
            try:
                response = await exchange(self.http, request, self.bounds)
                decision = classify(response, expect)
            except httpx.TransportError as exc:
                error, decision = exc, classify(exc)
            except (_TooLarge, _BodyTooSlow) as exc:
                error, decision = exc, Decision("fatal", "bound")
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "district %s: %s -> %s (attempt %d, %.1f ms)",
                    self.district_id,
                    what,
                    response.status_code if response is not None else decision.reason,
                    attempt,
                    (time.perf_counter() - started) * 1000,
                )
            kind = decision.kind
            if response is not None:
                self.contacted.add(host)
                stats.bytes_received += len(response.content)
                if content is not None:
                    stats.bytes_sent += len(content)
            if kind in ("ok", "reject", "foreign") or (kind in ("auth", "forbidden") and not auth.refreshable):
                if api:
                    gate.on_success(sent_at)
                assert response is not None
                return Reply(response, attempt, decision)
            if kind == "auth":
                if refreshed:
                    raise CredentialsRejected.for_district(self.district_id, self.token_host, **self.context(response))
                refreshed = True
                stats.token_refreshes += 1
                await auth.refresh(used)
                continue
            if kind == "forbidden":
                raise AccessForbidden.for_district(self.district_id, what, **self.context(response))
            if kind == "redirect":
                assert response is not None
                location = urlsplit(response.headers.get("location", "")).netloc
                raise SisRedirected.for_district(
                    self.district_id,
                    what,
                    response.status_code,
                    location,
                    "base URL" if api else "token URL",
                    request_id=request_id(response.headers),
                )
            if kind == "fatal":
                raise self._fatal(what, host, error)
            failures += 1
            if api:
                stats.retries[decision.reason] += 1
            if error is not None and decision.reason in ("dns", "tls") and host not in self.contacted:
                raise SisUnreachable.for_district(self.district_id, host, decision.reason, type(error).__name__)
            if failures >= policy.max_attempts:
                raise self._exhausted(what, host, decision, attempt, response)
            delay = policy.delay(failures, decision)
            if api and response is not None and response.status_code == 429:
                stats.throttled += 1
                if gate.on_throttled(sent_at, delay):
                    continue  # a flood: everyone waits out the Retry-After in the next acquire()
            log.debug("district %s: %s failed (%s), attempt %d", self.district_id, what, decision.reason, attempt)
            await policy.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _fatal(self, what: str, host: str, error: BaseException | None) -> OneRosterError:
        d, b = self.district_id, self.bounds
        if isinstance(error, _TooLarge):
            size = f"{error.size / 2**20:.1f} MB" + (" announced" if error.declared else " and more")
            return BoundExceeded(
                f"{what} for district {d}: the answer from {host} is larger than the {b.max_bytes / 2**20:g} MB "
                f"limit ({size}); stopped reading — a SIS or proxy sending something else than OneRoster? check the "
                f"URLs with `passback district show {d}`",
                district_id=d,
            )
        if isinstance(error, _BodyTooSlow):
            return BoundExceeded(
                f"{what} for district {d}: the answer from {host} was still arriving when the {b.deadline_s:g} s "
                f"deadline passed ({error.received} bytes received); stopped — a SIS or proxy in trouble; check it, "
                f"or allow more time with `passback district set {d} --timeout SECONDS`",
                district_id=d,
            )
        name = type(error).__name__ if error is not None else "error"
        return OneRosterError(
            f"{what} for district {d} cannot be sent ({name}: {error}) — check the URLs with "
            f"`passback district show {d}`",
            district_id=d,
        )

    def _exhausted(
        self, what: str, host: str, decision: Decision, attempts: int, response: httpx.Response | None
    ) -> OneRosterError:
        if response is None and host not in self.contacted:
            return SisUnreachable.for_district(self.district_id, host, decision.reason, "no answer")
        return TransientExhausted(
            f"{what} for district {self.district_id} failed {attempts} times ({decision.reason}); "
            f"the attempt budget of {self.policy.max_attempts} is spent — the SIS is overloaded or down, rerun later",
            district_id=self.district_id,
            attempts=attempts,
            reason=decision.reason,
            **self.context(response),
        )
