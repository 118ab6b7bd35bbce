"""The async OneRoster 1.1 client of one district: reads with hard-stop pagination, PUT/DELETE writes,
bounded-concurrency bulk writes with an adaptive rate, one retry/classification point (``policy``).

    async with OneRosterClient("d1", base_url, token_url, client_id, secret) as client:
        periods = await client.grading_periods()
        async for outcome in client.put_many("lineItem", items, should_stop=stop):
            ...

One ``httpx.AsyncClient`` per district, its pool no larger than 8 connections (httpcore scans the
pool on every request event, so bigger pools cost CPU).  ``transport`` lets tests inject a
``MockTransport``/``ASGITransport``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Literal, TypeVar, overload
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, SecretStr

from passback.oneroster.auth import TokenSource
from passback.oneroster.bulk import run_writes
from passback.oneroster.errors import (
    AccessForbidden,
    CredentialsRejected,
    OneRosterError,
    PaginationError,
    RequestRejected,
    SisUnreachable,
    TransientExhausted,
    redact,
    request_id,
)
from passback.oneroster.models import (
    AcademicSession,
    Category,
    Class,
    Enrollment,
    LineItem,
    Result,
    SisStatus,
    User,
    parse_status,
)
from passback.oneroster.outcomes import ClientStats, WriteOutcome
from passback.oneroster.pagination import Pager, rows_of
from passback.oneroster.policy import Decision, RetryPolicy, classify
from passback.oneroster.rate import AdaptiveRate, RateGate

log = logging.getLogger("passback.oneroster")

M = TypeVar("M", bound=BaseModel)
WriteKind = Literal["lineItem", "result"]
MAX_POOL = 8
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_KINDS: dict[str, tuple[str, str]] = {"lineItem": ("lineItems", "lineItem"), "result": ("results", "result")}


def encode(envelope: str, payload: dict[str, Any]) -> bytes:
    """The JSON body of a write; ``payload`` may already be wrapped in its ``{"lineItem": ...}`` envelope."""
    body = payload if len(payload) == 1 and envelope in payload else {envelope: payload}
    return json.dumps(body, separators=(",", ":")).encode()


class OneRosterClient:
    def __init__(self, district_id: str, base_url: str, token_url: str, client_id: str,
                 client_secret: SecretStr | str, *, concurrency: int = 4, rate_limit_per_s: float | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None, verify: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None, scopes: list[str] | None = None,
                 adaptive: AdaptiveRate | None = None) -> None:
        self.district_id = district_id
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self.concurrency = min(max(concurrency, 1), MAX_POOL)
        self.retry = retry or RetryPolicy()
        secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self._stats = ClientStats()
        self._tokens = TokenSource(district_id, token_url, client_id, secret, scopes=scopes, policy=self.retry,
                                   timeout=timeout, verify=verify, transport=transport)
        self._gate = RateGate(rate_limit_per_s, sleep=self.retry.sleep, clock=self.retry.clock, tuning=adaptive)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self._http = httpx.AsyncClient(timeout=timeout, verify=verify, transport=transport, limits=limits,
                                       headers={"Accept": "application/json", "User-Agent": "passback-oneroster"})
        self._contacted = False
        self._headers_token: str | None = None
        self._get_headers: dict[str, str] = {}
        self._put_headers: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"OneRosterClient(district_id={self.district_id!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> OneRosterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._tokens.aclose()

    @property
    def stats(self) -> ClientStats:
        self._stats.token_fetches = self._tokens.fetches
        return self._stats

    @property
    def gate(self) -> RateGate:
        return self._gate

    # -- the one request loop ---------------------------------------------------------------
    def _headers(self, token: str, body: bool) -> dict[str, str]:
        if token is not self._headers_token:
            self._get_headers = {"Authorization": f"Bearer {token}"}
            self._put_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            self._headers_token = token
        return self._put_headers if body else self._get_headers

    async def send(self, method: str, url: str, *, params: dict[str, Any] | None = None,
                   content: bytes | None = None) -> tuple[httpx.Response, int]:
        """Send with auth, pacing and retries; returns (response, attempts) for a 2xx or a permanent
        rejection, raises CredentialsRejected / AccessForbidden / TransientExhausted / SisUnreachable."""
        policy, gate, stats = self.retry, self._gate, self._stats
        refreshed = False
        failures = 0
        for attempt in range(1, policy.max_attempts + 2):  # +1: the one re-send after a token refresh
            sent_at = await gate.acquire()
            token = await self._tokens.get()
            stats.requests += 1
            response: httpx.Response | None = None
            error: httpx.TransportError | None = None
            started = time.perf_counter()
            try:
                response = await self._http.request(method, url, params=params, content=content,
                                                    headers=self._headers(token, content is not None))
                decision = classify(response)
            except httpx.TransportError as exc:
                error = exc
                decision = classify(exc)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("district %s: %s %s -> %s (attempt %d, %.1f ms)", self.district_id, method,
                          urlsplit(url).path, response.status_code if response is not None else decision.reason,
                          attempt, (time.perf_counter() - started) * 1000)
            kind = decision.kind
            if response is not None:
                self._contacted = True
                stats.bytes_received += len(response.content)
                if content is not None:
                    stats.bytes_sent += len(content)
            if kind == "ok" or kind == "reject":
                gate.on_success(sent_at)
                return response, attempt  # type: ignore[return-value]
            if kind == "auth":
                if refreshed:
                    raise CredentialsRejected.for_district(self.district_id, self._tokens.token_host,
                                                           **self._context(response))
                refreshed = True
                stats.token_refreshes += 1
                await self._tokens.refresh(token)
                continue
            if kind == "forbidden":
                raise AccessForbidden.for_district(self.district_id, f"{method} {urlsplit(url).path}",
                                                   **self._context(response))
            if kind == "fatal":
                raise error if error is not None else OneRosterError(decision.reason, district_id=self.district_id)
            failures += 1
            stats.retries[decision.reason] += 1
            if error is not None and decision.reason in ("dns", "tls") and not self._contacted:
                raise SisUnreachable.for_district(self.district_id, self.host, decision.reason,
                                                  type(error).__name__) from None
            if failures >= policy.max_attempts:
                raise self._exhausted(method, url, decision, attempt, response)
            delay = policy.delay(failures, decision)
            if response is not None and response.status_code == 429:
                stats.throttled += 1
                if gate.on_throttled(sent_at, delay):
                    continue  # a flood: everyone waits out the Retry-After in the next acquire()
            await policy.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _context(self, response: httpx.Response | None) -> dict[str, Any]:
        if response is None:
            return {}
        token = self._tokens.current or ""
        return {"status": response.status_code, "request_id": request_id(response.headers),
                "body_excerpt": redact(str(parse_status(response.content)), [token])}

    def _exhausted(self, method: str, url: str, decision: Decision, attempts: int,
                   response: httpx.Response | None) -> OneRosterError:
        path = urlsplit(url).path
        if response is None and not self._contacted:
            return SisUnreachable.for_district(self.district_id, self.host, decision.reason, "no answer")
        return TransientExhausted(
            f"{method} {path} for district {self.district_id} failed {attempts} times ({decision.reason}); "
            f"the attempt budget of {self.retry.max_attempts} is spent — the SIS is overloaded or down, rerun later",
            district_id=self.district_id, attempts=attempts, reason=decision.reason, **self._context(response))

    def _rejection(self, response: httpx.Response) -> SisStatus:
        status = parse_status(response.content)
        token = self._tokens.current
        if token and status.description and token in status.description:
            return SisStatus(status.code_minor, redact(status.description, [token]), status.code_major)
        return status

    # -- writes -----------------------------------------------------------------------------
    async def write(self, method: str, collection: str, sourced_id: str, content: bytes | None) -> WriteOutcome:
        response, attempts = await self.send(method, f"{self.base_url}/{collection}/{quote(sourced_id, safe='')}",
                                             content=content)
        status = response.status_code
        if status < 300 or (method == "DELETE" and status == 404):
            return WriteOutcome(sourced_id, True, status, status == 201, None, attempts)
        self._stats.rejections += 1
        return WriteOutcome(sourced_id, False, status, False, self._rejection(response), attempts)

    async def put_line_item(self, sourced_id: str, payload: dict[str, Any]) -> WriteOutcome:
        return await self.write("PUT", "lineItems", sourced_id, encode("lineItem", payload))

    async def put_result(self, sourced_id: str, payload: dict[str, Any]) -> WriteOutcome:
        return await self.write("PUT", "results", sourced_id, encode("result", payload))

    async def delete_line_item(self, sourced_id: str) -> WriteOutcome:
        return await self.write("DELETE", "lineItems", sourced_id, None)

    async def delete_result(self, sourced_id: str) -> WriteOutcome:
        return await self.write("DELETE", "results", sourced_id, None)

    def put_many(self, kind: WriteKind, items: Iterable[tuple[str, dict[str, Any]]], *,
                 should_stop: Callable[[], bool] | None = None) -> AsyncIterator[WriteOutcome]:
        """PUT every (sourcedId, payload) with ``concurrency`` workers; outcomes in completion order.

        ``should_stop`` is checked before each new request; closing the iterator early (``aclosing``)
        cancels the writes in flight.  An item whose retries are exhausted comes back with ``error``
        set; several in a row raise TransientExhausted (the SIS is down).
        """
        collection, envelope = _KINDS[kind]

        async def put(sourced_id: str, payload: dict[str, Any]) -> WriteOutcome:
            return await self.write("PUT", collection, sourced_id, encode(envelope, payload))

        return run_writes(put, items, workers=self.concurrency, district_id=self.district_id, should_stop=should_stop)

    # -- reads ------------------------------------------------------------------------------
    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        response, _ = await self.send("GET", url, params=params)
        if response.status_code >= 300:
            status = self._rejection(response)
            raise RequestRejected(f"the SIS refused GET {urlsplit(url).path} for district {self.district_id}",
                                  district_id=self.district_id, code_minor=status.code_minor,
                                  **self._context(response))
        try:
            return response.json(), response
        except ValueError:
            raise OneRosterError(f"GET {urlsplit(url).path} for district {self.district_id} answered non-JSON",
                                 district_id=self.district_id, **self._context(response)) from None

    @overload
    def iter_collection(self, path: str, *, params: dict[str, Any] | None = ..., model: type[M],
                        page_size: int = ..., max_pages: int = ...) -> AsyncIterator[M]: ...
    @overload
    def iter_collection(self, path: str, *, params: dict[str, Any] | None = ..., model: None = ...,
                        page_size: int = ..., max_pages: int = ...) -> AsyncIterator[dict[str, Any]]: ...

    async def iter_collection(self, path: str, *, params: dict[str, Any] | None = None,
                              model: type[BaseModel] | None = None, page_size: int = 100,
                              max_pages: int = 10_000) -> AsyncIterator[Any]:
        """Every record of a collection, page by page (``limit``/``offset``), with a hard stop."""
        pager = Pager(f"{self.base_url}/{path.lstrip('/')}", page_size)
        query = dict(params or {})
        for _ in range(max_pages):
            if pager.follow is not None:
                data, response = await self.get_json(pager.follow)
            else:
                data, response = await self.get_json(pager.url, {**query, "limit": page_size, "offset": pager.offset})
            rows = rows_of(data)
            if pager.repeated(rows):
                raise PaginationError(f"GET {path} for district {self.district_id}: the SIS returned the same page "
                                      f"again (offset {pager.offset} ignored)", district_id=self.district_id)
            for row in rows:
                yield model.model_validate(row) if model is not None else row
            if not pager.advance(response, rows):
                return
            if pager.foreign_link():
                raise PaginationError(f"GET {path} for district {self.district_id}: next link points to another "
                                      f"host ({urlsplit(pager.follow or '').netloc}); not followed",
                                      district_id=self.district_id)
        raise PaginationError(f"GET {path} for district {self.district_id}: not finished after {max_pages} pages "
                              f"of {page_size} (the page budget)", district_id=self.district_id)

    async def get_collection(self, path: str, *, params: dict[str, Any] | None = None,
                             model: type[BaseModel] | None = None, page_size: int = 100,
                             max_pages: int = 10_000) -> list[Any]:
        return [r async for r in self.iter_collection(path, params=params, model=model, page_size=page_size,
                                                      max_pages=max_pages)]

    async def get_one(self, path: str, model: type[M]) -> M | None:
        """One record (``{"lineItem": {...}}``), None when the SIS does not know it (404)."""
        try:
            data, _ = await self.get_json(path)
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise
        inner = next((v for v in data.values() if isinstance(v, dict)), data) if isinstance(data, dict) else data
        return model.model_validate(inner)

    async def grading_periods(self) -> list[AcademicSession]:
        sessions = await self.get_collection("academicSessions", params={"filter": "type='gradingPeriod'"},
                                             model=AcademicSession)
        return [s for s in sessions if (s.type or "gradingPeriod") == "gradingPeriod"]

    async def categories(self) -> list[Category]:
        return await self.get_collection("categories", model=Category)

    async def classes(self) -> list[Class]:
        return await self.get_collection("classes", model=Class)

    async def users(self, *, filter: str | None = None) -> list[User]:
        return await self.get_collection("users", params={"filter": filter} if filter else None, model=User)

    async def enrollments(self, *, filter: str | None = None) -> list[Enrollment]:
        return await self.get_collection("enrollments", params={"filter": filter} if filter else None,
                                         model=Enrollment)

    async def get_line_item(self, sourced_id: str) -> LineItem | None:
        return await self.get_one(f"lineItems/{quote(sourced_id, safe='')}", LineItem)

    async def get_result(self, sourced_id: str) -> Result | None:
        return await self.get_one(f"results/{quote(sourced_id, safe='')}", Result)

    async def class_line_items(self, class_id: str) -> list[LineItem]:
        return await self.get_collection(f"classes/{quote(class_id, safe='')}/lineItems", model=LineItem)

    async def class_results(self, class_id: str) -> list[Result]:
        return await self.get_collection(f"classes/{quote(class_id, safe='')}/results", model=Result)
