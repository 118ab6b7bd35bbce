"""A small two-district scenario built by hand, the app in-process (ASGI) and helpers to call it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from passback.scenario import Scenario
from passback.simulator.app import create_app
from tests.simulator.helpers import Api, district, get_token


@pytest.fixture
def scenario() -> Scenario:
    return Scenario(districts=[district("d1"), district("d2")])


@pytest.fixture
def app(scenario: Scenario) -> FastAPI:
    return create_app(scenario)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        yield client


@pytest.fixture
async def api(http: httpx.AsyncClient) -> Api:
    return Api(http, "d1", await get_token(http, "d1"))
