"""The Skyward OneRoster 1.1 simulator as an ASGI app (FastAPI), seeded from a Scenario.

    app = create_app(scenario)                      # in-process: httpx.ASGITransport(app=app)
    app = create_app(scenario, db_path="sim.db", faults=FaultConfig(latency_ms=20))

Tenant ``T`` is served at ``/{T}/ims/oneroster/v1p1/...`` with its token URL ``/{T}/oauth/token``;
``/admin/...`` is the unauthenticated control plane.  See ``docs/simulator.md``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from passback.scenario import Scenario
from passback.simulator import admin, gradebook, hostile, roster
from passback.simulator.auth import OAuthError
from passback.simulator.errors import ApiError, error_response, json_response, status_body
from passback.simulator.faults import FaultConfig, FaultRuntime
from passback.simulator.middleware import RECORD_KEY, SimMiddleware
from passback.simulator.seed import seed_scenario
from passback.simulator.state import SimState, sim_of
from passback.simulator.store import Store
from passback.simulator.telemetry import RequestRecord


async def token_endpoint(request: Request) -> Response:
    """POST /{T}/oauth/token: client credentials (HTTP Basic or form fields), optional scope."""
    sim = sim_of(request)
    tenant = sim.tenant(request.path_params["tenant"])
    record: RequestRecord | None = request.scope.get(RECORD_KEY)
    body = await request.body()
    faults = sim.faults.config
    if faults.html_token or faults.echo_credentials:
        if record is not None:
            record.fault = "html" if faults.html_token else "echo"
        if faults.html_token:
            return hostile.html_page()
        authorization = request.headers.get("authorization")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        return hostile.echo_credentials(lambda: sim.auth.credentials(authorization, form)[:2], authorization)
    try:
        client_id, payload = sim.auth.issue(tenant, request.headers.get("authorization"), body)
    except OAuthError as exc:
        if record is not None:
            record.client_id = exc.client_id
        return json_response(
            {"error": exc.error, "error_description": exc.description},
            exc.status,
            {**exc.headers, "Cache-Control": "no-store"},
        )
    if record is not None:
        record.client_id = client_id
    return json_response(payload, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith("/admin"):
        return json_response({"detail": exc.detail}, exc.status_code, dict(exc.headers or {}))
    minor = "unknownobject" if exc.status_code == 404 else "invalid_data"
    token = {404: "oneroster.unknown_path", 405: "oneroster.method_not_allowed"}.get(
        exc.status_code, "oneroster.http_error"
    )
    return json_response(
        status_body(minor, f"{token}: {exc.detail} ({request.method} {request.url.path})"),
        exc.status_code,
        dict(exc.headers or {}),
    )


def create_app(
    scenario: Scenario | None = None,
    *,
    db_path: str = ":memory:",
    faults: FaultConfig | None = None,
    token_lifetime_s: float = 3600,
) -> FastAPI:
    """A simulator app over a SQLite store at ``db_path`` (``:memory:`` or a file), seeded from ``scenario``
    (its tenants' rostering side is replaced; a file's existing gradebook is kept)."""
    store = Store(db_path)
    if scenario is not None:
        seed_scenario(store, scenario)
    sim = SimState(store, FaultRuntime(faults.model_copy() if faults else None), float(token_lifetime_s))
    app = FastAPI(title="Skyward OneRoster 1.1 simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = sim
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(SimMiddleware, sim=sim)
    admin.register(app)
    app.add_route("/{tenant}/oauth/token", token_endpoint, methods=["POST"])
    roster.register(app)
    gradebook.register(app)
    return app
