"""The async OneRoster 1.1 client of one district: reads with hard-stop pagination, PUT/DELETE writes,
bounded-concurrency bulk writes with an adaptive rate, one request loop (``loop``) and one
retry/classification point (``policy``) for every request, the token endpoint's included.

    async with OneRosterClient("d1", base_url, token_url, client_id, secret) as client:
        async with client.time_budget(120, "the pre-flight reads"):
            periods = await client.grading_periods()
        async for outcome in client.put_many("lineItem", items, should_stop=stop):
            ...

One ``httpx.AsyncClient`` per district, its pool no larger than 8 connections (httpcore scans the
pool on every request event, so bigger pools cost CPU).  ``transport`` lets tests inject a
``MockTransport``/``ASGITransport``.  Bounds: each request ends by its deadline (the district's
timeout, for the whole exchange) and reads at most ``max_response_bytes``; collections have a page
budget; ``time_budget`` bounds a group of reads.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Literal, TypeVar, overload
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, SecretStr

from passback.oneroster.auth import Bearer, TokenSource
from passback.oneroster.bulk import run_writes
from passback.oneroster.errors import (
    PaginationError,
    RequestRejected,
    UnexpectedAnswer,
    instead_of_oneroster,
    redact,
    request_id,
)
from passback.oneroster.loop import MAX_RESPONSE_BYTES, Bounds, Reply, RequestLoop, time_budget
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
from passback.oneroster.policy import READ, Expect, RetryPolicy
from passback.oneroster.rate import AdaptiveRate, RateGate
from passback.oneroster.readback import differences, unwrap
from passback.oneroster.transport import SisHttpClient, WireTransport

log = logging.getLogger("passback.oneroster")

M = TypeVar("M", bound=BaseModel)
WriteKind = Literal["lineItem", "result"]
MAX_POOL = 8
MAX_UNEXPECTED = 3  # writes answered with something else than OneRoster: then the district stops
PREFLIGHT_MAX_PAGES = 100  # grading periods and categories: 10,000 records at most
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_KINDS: dict[str, tuple[str, str]] = {"lineItem": ("lineItems", "lineItem"), "result": ("results", "result")}
_ENVELOPES = {"lineItems": "lineItem", "results": "result"}


def encode(envelope: str, payload: dict[str, Any]) -> bytes:
    """The JSON body of a write; ``payload`` may already be wrapped in its ``{"lineItem": ...}`` envelope."""
    body = payload if len(payload) == 1 and envelope in payload else {envelope: payload}
    return json.dumps(body, separators=(",", ":")).encode()


def per_step_timeout(timeout: httpx.Timeout, deadline_s: float) -> httpx.Timeout:
    """The timeouts httpx applies to each socket read, write and pool wait, under the loop's deadline.

    Every request is bounded as a whole by ``Bounds.deadline_s`` (``loop.exchange``); a per-read or
    per-write timeout no shorter than that deadline can never fire first, and costs an
    ``asyncio.timeout`` (a timer handle scheduled and cancelled) around every read and write.  Those
    are dropped; a shorter one, and the connect timeout, are kept."""

    def step(seconds: float | None) -> float | None:
        return None if seconds is None or seconds >= deadline_s else seconds

    return httpx.Timeout(
        connect=timeout.connect, read=step(timeout.read), write=step(timeout.write), pool=step(timeout.pool)
    )


class OneRosterClient:
    def __init__(
        self,
        district_id: str,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | str,
        *,
        concurrency: int = 4,
        rate_limit_per_s: float | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        verify: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        scopes: list[str] | None = None,
        adaptive: AdaptiveRate | None = None,
        deadline_s: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_unexpected: int = MAX_UNEXPECTED,
    ) -> None:
        self.district_id = district_id
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self.concurrency = min(max(concurrency, 1), MAX_POOL)
        self.retry = retry or RetryPolicy()
        self.max_unexpected = max_unexpected
        secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self._stats = ClientStats()
        self._tokens = TokenSource(district_id, token_url, client_id, secret, scopes=scopes, clock=self.retry.clock)
        self._gate = RateGate(rate_limit_per_s, sleep=self.retry.sleep, clock=self.retry.clock, tuning=adaptive)
        deadline = deadline_s if deadline_s is not None else (timeout.read or DEFAULT_TIMEOUT.read or 30.0)
        self._http = SisHttpClient(
            transport if transport is not None else WireTransport(verify=verify, max_connections=self.concurrency),
            timeout=per_step_timeout(timeout, deadline),
            headers={"Accept": "application/json", "User-Agent": "passback-oneroster"},
        )
        self._loop = RequestLoop(
            district_id,
            self._http,
            self.retry,
            Bounds(deadline, max_response_bytes),
            self._stats,
            self._gate,
            self._tokens.secrets,
        )
        self._tokens.attach(self._loop)
        self._auth = Bearer(self._tokens)
        self._unexpected: list[str] = []

    def __repr__(self) -> str:
        return f"OneRosterClient(district_id={self.district_id!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> OneRosterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def stats(self) -> ClientStats:
        self._stats.token_fetches = self._tokens.fetches
        return self._stats

    @property
    def gate(self) -> RateGate:
        return self._gate

    async def send(
        self,
        method: str,
        url: str,
        *,
        expect: Expect | None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
    ) -> Reply:
        """One API request through the loop (auth, pacing, bounds, retries, classification)."""
        headers = {"Content-Type": "application/json"} if content is not None else None
        return await self._loop.send(
            method, url, expect=expect, auth=self._auth, params=params, content=content, headers=headers
        )

    def time_budget(self, seconds: float, what: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Bound a group of reads (the pre-flight, a reconcile read-back): past ``seconds`` they are
        cancelled and ``BoundExceeded`` names the district."""
        return time_budget(self.district_id, self.host, seconds, what)

    def _rejection(self, response: httpx.Response) -> SisStatus:
        """The SIS's status of a refusal: redacted, control characters neutralised (it is stored and shown)."""
        status = parse_status(response.content)
        secrets = self._tokens.secrets()
        return SisStatus(
            redact(status.code_minor, secrets, 100) if status.code_minor else None,
            redact(status.description, secrets) if status.description else None,
            status.code_major,
        )

    def _not_oneroster(self, reply: Reply, what: str, envelope: str = "object") -> str:
        return (
            f"the SIS answers {instead_of_oneroster(reply.decision.reason, envelope)} (HTTP "
            f"{reply.response.status_code} to {what}) — check the base URL with "
            f"`passback district show {self.district_id}`"
        )

    # -- writes -----------------------------------------------------------------------------
    async def write(self, method: str, collection: str, sourced_id: str, content: bytes | None) -> WriteOutcome:
        """One PUT/DELETE.  Only a OneRoster answer for this item is an acknowledgement (``policy``); an
        answer that is not one is never recorded: the outcome carries ``error``, and after
        ``max_unexpected`` of them ``UnexpectedAnswer`` stops the district."""
        envelope = _ENVELOPES.get(collection, collection)
        reply = await self.send(
            method,
            f"{self.base_url}/{collection}/{quote(sourced_id, safe='')}",
            expect=Expect("item", envelope, sourced_id),
            content=content,
        )
        response, attempts, kind = reply.response, reply.attempts, reply.decision.kind
        status = response.status_code
        if kind == "foreign":
            return self._unexpected_write(reply, sourced_id, f"{method} {collection}/{sourced_id}", envelope)
        rid = request_id(response.headers)
        if kind == "ok" or (method == "DELETE" and status == 404):
            return WriteOutcome(sourced_id, True, status, status == 201, None, attempts, request_id=rid)
        self._stats.rejections += 1
        return WriteOutcome(sourced_id, False, status, False, self._rejection(response), attempts, request_id=rid)

    def _unexpected_write(self, reply: Reply, sourced_id: str, what: str, envelope: str) -> WriteOutcome:
        message = self._not_oneroster(reply, what, envelope)
        self._unexpected.append(message)
        if len(self._unexpected) >= self.max_unexpected:
            raise UnexpectedAnswer(
                f"district {self.district_id} stopped: {len(self._unexpected)} writes were answered with something "
                f"that is not a OneRoster acknowledgement, and nothing was recorded for them; {message}",
                district_id=self.district_id,
                **self._loop.context(reply.response),
            )
        return WriteOutcome(sourced_id, False, reply.response.status_code, attempts=reply.attempts, error=message)

    async def put_line_item(self, sourced_id: str, payload: dict[str, Any]) -> WriteOutcome:
        return await self.write("PUT", "lineItems", sourced_id, encode("lineItem", payload))

    async def put_result(self, sourced_id: str, payload: dict[str, Any]) -> WriteOutcome:
        return await self.write("PUT", "results", sourced_id, encode("result", payload))

    async def delete_line_item(self, sourced_id: str) -> WriteOutcome:
        return await self.write("DELETE", "lineItems", sourced_id, None)

    async def delete_result(self, sourced_id: str) -> WriteOutcome:
        return await self.write("DELETE", "results", sourced_id, None)

    def put_many(
        self,
        kind: WriteKind,
        items: Iterable[tuple[str, dict[str, Any]]],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> AsyncIterator[WriteOutcome]:
        """PUT every (sourcedId, payload) with ``concurrency`` workers; outcomes in completion order.

        ``should_stop`` is checked before each new request; closing the iterator early (``aclosing``)
        cancels the writes in flight.  An item whose retries are exhausted, or whose answer was not
        a OneRoster acknowledgement, comes back with ``error`` set; several in a row raise
        TransientExhausted (the SIS is down), a few unexpected answers UnexpectedAnswer.
        """
        collection, envelope = _KINDS[kind]

        async def put(sourced_id: str, payload: dict[str, Any]) -> WriteOutcome:
            return await self.write("PUT", collection, sourced_id, encode(envelope, payload))

        return run_writes(put, items, workers=self.concurrency, district_id=self.district_id, should_stop=should_stop)

    def delete_many(
        self, kind: WriteKind, sourced_ids: Iterable[str], *, should_stop: Callable[[], bool] | None = None
    ) -> AsyncIterator[WriteOutcome]:
        """DELETE every sourcedId through the same workers, pacing and bounds as ``put_many`` (a 404 is
        an acknowledgement: the SIS no longer holds it); outcomes in completion order."""
        collection, _ = _KINDS[kind]

        async def delete(sourced_id: str, _: dict[str, Any]) -> WriteOutcome:
            return await self.write("DELETE", collection, sourced_id, None)

        return run_writes(
            delete,
            ((sid, {}) for sid in sourced_ids),
            workers=self.concurrency,
            district_id=self.district_id,
            should_stop=should_stop,
        )

    async def read_back(self, kind: WriteKind, sourced_id: str, payload: dict[str, Any]) -> list[str]:
        """GET the item just written and compare it with ``payload``: one line per difference
        (empty: the SIS holds what was written)."""
        collection, envelope = _KINDS[kind]
        try:
            data, _ = await self.get_json(f"{collection}/{quote(sourced_id, safe='')}")
        except RequestRejected as exc:
            if exc.status == 404:
                return [f"the SIS has no {envelope} {sourced_id} (GET answered 404)"]
            raise
        stored = data.get(envelope) if isinstance(data, dict) else None
        if not isinstance(stored, dict):
            return [f"GET {collection}/{sourced_id} answered no {envelope}"]
        return differences(envelope, unwrap(payload, envelope), stored)

    # -- reads ------------------------------------------------------------------------------
    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        reply = await self.send("GET", url, expect=READ, params=params)
        response, what = reply.response, f"GET {urlsplit(url).path}"
        if reply.decision.kind == "foreign":
            raise UnexpectedAnswer(
                f"{what} for district {self.district_id}: {self._not_oneroster(reply, what)}",
                district_id=self.district_id,
                **self._loop.context(response),
            )
        if reply.decision.kind != "ok":
            status = self._rejection(response)
            raise RequestRejected(
                f"the SIS refused {what} for district {self.district_id}",
                district_id=self.district_id,
                code_minor=status.code_minor,
                **self._loop.context(response),
            )
        return json.loads(response.content), response

    @overload
    def iter_collection(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = ...,
        model: type[M],
        page_size: int = ...,
        max_pages: int = ...,
        offset: int = ...,
    ) -> AsyncIterator[M]: ...
    @overload
    def iter_collection(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = ...,
        model: None = ...,
        page_size: int = ...,
        max_pages: int = ...,
        offset: int = ...,
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def iter_collection(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        model: type[BaseModel] | None = None,
        page_size: int = 100,
        max_pages: int = 10_000,
        offset: int = 0,
    ) -> AsyncIterator[Any]:
        """Every record of a collection from ``offset`` on (a resumed read), page by page
        (``limit``/``offset``), with a hard stop."""
        pager = Pager(f"{self.base_url}/{path.lstrip('/')}", page_size, max_pages, offset=offset)
        query = dict(params or {})
        while True:
            if pager.follow is not None:
                data, response = await self.get_json(pager.follow)
            else:
                data, response = await self.get_json(pager.url, {**query, "limit": page_size, "offset": pager.offset})
            rows = rows_of(data)
            if pager.repeated(rows):
                raise PaginationError(
                    f"GET {path} for district {self.district_id}: the SIS returned the same page "
                    f"again (offset {pager.offset} ignored)",
                    district_id=self.district_id,
                )
            for row in rows:
                yield model.model_validate(row) if model is not None else row
            more = pager.advance(response, rows)
            if pager.problem is not None:
                raise PaginationError(
                    f"GET {path} for district {self.district_id}: {pager.problem} — the SIS's "
                    f"paging does not end; stopped",
                    district_id=self.district_id,
                )
            if not more:
                return
            if pager.foreign_link():
                raise PaginationError(
                    f"GET {path} for district {self.district_id}: next link points to another "
                    f"host ({urlsplit(pager.follow or '').netloc}); not followed",
                    district_id=self.district_id,
                )

    async def get_collection(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        model: type[BaseModel] | None = None,
        page_size: int = 100,
        max_pages: int = 10_000,
    ) -> list[Any]:
        return [
            r
            async for r in self.iter_collection(
                path, params=params, model=model, page_size=page_size, max_pages=max_pages
            )
        ]

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
        sessions = await self.get_collection(
            "academicSessions",
            params={"filter": "type='gradingPeriod'"},
            model=AcademicSession,
            max_pages=PREFLIGHT_MAX_PAGES,
        )
        return [s for s in sessions if (s.type or "gradingPeriod") == "gradingPeriod"]

    async def categories(self) -> list[Category]:
        return await self.get_collection("categories", model=Category, max_pages=PREFLIGHT_MAX_PAGES)

    async def classes(self) -> list[Class]:
        return await self.get_collection("classes", model=Class)

    async def users(self, *, filter: str | None = None) -> list[User]:
        return await self.get_collection("users", params={"filter": filter} if filter else None, model=User)

    async def enrollments(self, *, filter: str | None = None) -> list[Enrollment]:
        return await self.get_collection("enrollments", params={"filter": filter} if filter else None, model=Enrollment)

    async def get_line_item(self, sourced_id: str) -> LineItem | None:
        return await self.get_one(f"lineItems/{quote(sourced_id, safe='')}", LineItem)

    async def get_result(self, sourced_id: str) -> Result | None:
        return await self.get_one(f"results/{quote(sourced_id, safe='')}", Result)

    async def class_line_items(self, class_id: str) -> list[LineItem]:
        return await self.get_collection(f"classes/{quote(class_id, safe='')}/lineItems", model=LineItem)

    async def class_results(self, class_id: str) -> list[Result]:
        return await self.get_collection(f"classes/{quote(class_id, safe='')}/results", model=Result)
