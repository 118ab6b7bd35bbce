"""A strict fake SIS on httpx.MockTransport: any request not explicitly expected fails the test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from passback.oneroster import OneRosterClient, RetryPolicy
from tests.client.helpers import BASE, SECRET, TOKEN_URL, FakeClock, StrictSIS


@pytest.fixture
def sis() -> StrictSIS:
    return StrictSIS()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(sis: StrictSIS, clock: FakeClock) -> Callable[..., OneRosterClient]:
    def make(**kw: Any) -> OneRosterClient:
        retry = kw.pop("retry", None) or RetryPolicy(
            sleep=clock.sleep, clock=clock.now, rand=kw.pop("rand", lambda: 0.5)
        )
        return OneRosterClient(
            "d1", BASE, TOKEN_URL, "client-1", SECRET, transport=httpx.MockTransport(sis.handler), retry=retry, **kw
        )

    return make
