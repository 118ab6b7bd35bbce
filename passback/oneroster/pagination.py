"""Offset/limit pagination of OneRoster collections as a tiny strategy with explicit stop rules.

A collection read stops when
  * the rows read reach ``X-Total-Count``;
  * ``X-Total-Count`` is absent and the server uses ``Link`` headers but sends no ``rel="next"``;
  * a page is empty, or shorter than the server's page size (the server may cap ``limit``: the
    first page's length, when the total says there is more, is taken as its page size);
and fails with ``PaginationError`` when ``max_pages`` pages did not finish it, when the server
ignores ``offset`` (a page starts with the same record as the previous one), when a next link
points at another host (the token is never sent elsewhere), and — the page budget checked against
``X-Total-Count`` — when the first page announces more records than ``max_pages`` pages can hold,
or the pages go on beyond the records the first page announced (by more than a page: a
collection may grow a little while it is read).  So neither an endless ``next`` link nor a lying
``X-Total-Count`` keeps a read going: ``problem`` says why it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx


def rows_of(data: Any) -> list[dict[str, Any]]:
    """The records of a collection body: the list under its envelope key (``{"classes": [...]}``)."""
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list):
                return [r for r in value if isinstance(r, dict)]
    return []


def total_count(response: httpx.Response) -> int | None:
    value = response.headers.get("x-total-count")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


@dataclass
class Pager:
    """The state of one collection read; ``advance`` says where the next page is, or None to stop."""

    url: str
    page_size: int
    max_pages: int = 10_000
    offset: int = 0
    effective_size: int = 0
    last_first_id: str | None = None
    follow: str | None = None  # a next link to follow instead of offset paging
    pages: int = 0
    announced: int | None = None  # X-Total-Count of the first page
    problem: str | None = None  # why the read must stop with an error (set by advance)

    def __post_init__(self) -> None:
        self.effective_size = self.page_size

    def repeated(self, rows: list[dict[str, Any]]) -> bool:
        """True when this page starts with the same record as the previous one (offset ignored)."""
        first = rows[0].get("sourcedId") if rows else None
        repeated = self.pages > 0 and first is not None and first == self.last_first_id
        self.last_first_id = first
        return repeated

    def advance(self, response: httpx.Response, rows: list[dict[str, Any]]) -> bool:
        """Record a page; True when another page must be read (False: done, or ``problem`` is set)."""
        self.pages += 1
        total = total_count(response)
        n = len(rows)
        if self.pages == 1 and total is not None:
            self.announced = total
            needed = math.ceil(total / self.page_size)
            if needed > self.max_pages:
                self.problem = (
                    f"X-Total-Count announces {total} records: more than the page budget of "
                    f"{self.max_pages} pages of {self.page_size}"
                )
                return False
        if self.announced is not None and self.offset + n > self.announced + self.page_size:
            self.problem = (
                f"{self.offset + n} records read, more than the {self.announced} the first page's "
                f"X-Total-Count announced (a lying X-Total-Count?)"
            )
            return False
        if self.pages == 1 and 0 < n < self.page_size and total is not None and total > n:
            self.effective_size = n  # the server caps the page size below our limit
        self.offset += n
        self.follow = None
        if n == 0:
            return False
        if total is not None:
            return self.offset < total and n >= self.effective_size and self._within_budget()
        if "link" in response.headers:
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                return False
            self.follow = urljoin(str(response.url), nxt)
            return self._within_budget()
        return n >= self.effective_size and self._within_budget()

    def _within_budget(self) -> bool:
        if self.pages >= self.max_pages:
            self.problem = f"not finished after {self.max_pages} pages of {self.page_size} (the page budget)"
            return False
        return True

    def foreign_link(self) -> bool:
        return self.follow is not None and origin(self.follow) != origin(self.url)
