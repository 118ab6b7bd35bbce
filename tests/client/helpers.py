"""A strict fake SIS (httpx.MockTransport) and a fake clock for the client's unit tests (fixtures: conftest.py)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

BASE = "https://sis.example.org/d1/ims/oneroster/v1p1"
API = "/d1/ims/oneroster/v1p1"
TOKEN_URL = "https://auth.example.org/d1/oauth/token"
SECRET = "s3cret-VALUE-never-shown"

Step = httpx.Response | Exception | Callable[[httpx.Request], Any]


def status_body(code: int, minor: str, description: str) -> dict[str, Any]:
    return {
        "statusInfoSet": [
            {
                "imsx_codeMajor": "failure",
                "imsx_severity": "error",
                "imsx_codeMinor": minor,
                "imsx_description": description,
            }
        ]
    }


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


class StrictSIS:
    """Scripted answers per (method, path); a route's list is consumed in order, its last step repeats."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], deque[Step]] = {}
        self.requests: list[httpx.Request] = []
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.token_lifetime: int | None = 3600
        self.tokens_issued = 0
        self.token_steps: deque[Step] = deque()

    def on(self, method: str, path: str, *steps: Step) -> StrictSIS:
        self.routes[(method, API + path if not path.startswith("/d1/") else path)] = deque(steps)
        return self

    def api_calls(self, method: str, path: str) -> int:
        return self.calls[(method, API + path)]

    @property
    def token_calls(self) -> int:
        return self.calls[("POST", "/d1/oauth/token")]

    def _token(self, request: httpx.Request) -> Any:
        if self.token_steps:
            step = self.token_steps.popleft() if len(self.token_steps) > 1 else self.token_steps[0]
            return self._play(step, request)
        self.tokens_issued += 1
        body: dict[str, Any] = {"access_token": f"tok-{self.tokens_issued}-opaque", "token_type": "bearer"}
        if self.token_lifetime is not None:
            body["expires_in"] = self.token_lifetime
        return httpx.Response(200, json=body)

    def _play(self, step: Step, request: httpx.Request) -> Any:
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            return step(request)
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        key = (request.method, request.url.path)
        self.requests.append(request)
        self.calls[key] += 1
        if request.url.host == "auth.example.org" and key == ("POST", "/d1/oauth/token"):
            result = self._token(request)
        else:
            steps = self.routes.get(key)
            if steps is None or request.url.host != "sis.example.org":
                pytest.fail(f"unexpected request {request.method} {request.url}")
            step = steps.popleft() if len(steps) > 1 else steps[0]
            result = self._play(step, request)
        if isinstance(result, Awaitable):
            result = await result
        return result

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.host == "sis.example.org"]


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)
