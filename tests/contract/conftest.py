"""The client against the simulator running as a real server on loopback (uvicorn in a thread).

The scenario (districts d1 and d2) and the request bodies are in ``helpers.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from passback.oneroster import OneRosterClient, RetryPolicy
from passback.simulator.server import SimulatorThread, tenant_urls
from tests.contract.helpers import SECRETS, scenario
from tests.toolkit import Sis


@pytest.fixture
def sim() -> Iterator[Sis]:
    with SimulatorThread(scenario()) as thread:
        yield Sis(thread.url, thread.app)


@pytest.fixture
def make_client(sim: Sis) -> Callable[..., OneRosterClient]:
    def make(tenant: str = "d1", **kw: Any) -> OneRosterClient:
        base, token = tenant_urls(sim.url, tenant)
        kw.setdefault("retry", RetryPolicy(base_delay=0.01, max_delay=0.2))
        kw.setdefault("timeout", httpx.Timeout(5.0, connect=2.0))
        secret = kw.pop("secret", SECRETS[tenant])
        return OneRosterClient(tenant, base, token, kw.pop("client_id", f"otus-{tenant}"), secret, **kw)

    return make


@pytest.fixture
async def client(make_client: Callable[..., OneRosterClient]) -> AsyncIterator[OneRosterClient]:
    async with make_client() as c:
        yield c
