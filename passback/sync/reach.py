"""Does anything answer at a district's SIS?  A quick look before an interactive command.

A run's client retries a host that does not answer (6 attempts, each connect up to 5 s) and the
pre-flight task retries that twice more: right for the nightly run, which should ride out a
restarting SIS, but a person at a terminal waited ~50 s to learn that the demo's simulator was not
running.  ``unreachable`` connects once to the base and token URLs (``CONNECT_S`` each, the client's
connect timeout) without credentials; any HTTP answer at all means reachable.  Only a failure to
connect counts (DNS, refused, TLS, no answer to the connect): the run would stop on it anyway.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx

from passback.oneroster.errors import SisUnreachable
from passback.oneroster.policy import classify
from passback.oneroster.transport import WireTransport
from passback.store.urls import url_problem

CONNECT_S = 5.0


async def unreachable(
    district: Any, *, connect_s: float = CONNECT_S, transport: httpx.AsyncBaseTransport | None = None
) -> str | None:
    """None when the district's SIS answers (or its URLs are invalid: the run says so itself), else
    the ``SisUnreachable`` sentence naming the host and what to check."""
    allow_http = bool(getattr(district, "allow_http", False))
    urls = list(dict.fromkeys((district.base_url, district.token_url)))
    if any(url_problem(u, allow_http=allow_http) for u in urls):
        return None  # the run's own URL check names the problem (a connect would hide it)
    timeout = httpx.Timeout(connect_s * 2, connect=connect_s)
    # the district client's transport: its TLS context is made only for an https URL (loading the CA
    # bundle costs ~50 ms of CPU per client), and failures are classified as the client's are
    wire = transport or WireTransport(verify=district.verify_tls, max_connections=len(urls))
    async with httpx.AsyncClient(timeout=timeout, transport=wire, follow_redirects=False) as http:
        for url in urls:
            try:
                async with http.stream("GET", url):
                    pass  # an answer, whatever it says: something listens there
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                host = urlsplit(url).netloc
                return str(SisUnreachable.for_district(district.id, host, classify(exc).reason, "no answer"))
            except httpx.HTTPError:
                continue  # it accepted the connection: the run will tell what is wrong
    return None


def unreachable_districts(districts: list[Any]) -> dict[str, str]:
    """{district id: why} for the districts whose SIS does not answer (checked at once, in parallel)."""

    async def check() -> list[str | None]:
        return list(await asyncio.gather(*(unreachable(d) for d in districts)))

    return {d.id: why for d, why in zip(districts, asyncio.run(check()), strict=True) if why}
