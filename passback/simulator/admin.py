"""``/admin``: no auth, loopback only — for tests, benchmarks and demos (never faulted, never logged).

health, state of a tenant (gradebook objects, counts, duplicate lineItems), stats, faults (read and
partial update), tenant settings, closing/opening grading periods, revoking and adding clients,
the request log, resetting stats, and (re)loading a scenario.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from passback.scenario import Scenario
from passback.simulator.schema import ref
from passback.simulator.seed import seed_scenario
from passback.simulator.state import SimState
from passback.simulator.store import dumps, now_iso


class SettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    licensed: bool | None = None
    use_grade_when_posting: bool | None = None


class EnrollmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    class_id: str
    user_id: str
    role: str = "student"


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str
    client_secret: str
    scopes: list[str] | None = None


router = APIRouter(prefix="/admin", include_in_schema=False)


def _sim(request: Request) -> SimState:
    sim: SimState = request.app.state.sim
    return sim


def _tenant(sim: SimState, tenant: str) -> str:
    if not sim.store.has_tenant(tenant):
        raise HTTPException(404, f"no tenant {tenant!r} (known: {', '.join(sim.store.tenants())})")
    return tenant


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    sim = _sim(request)
    return {"status": "ok", "tenants": sim.store.tenants(), "db": sim.store.path}


@router.get("/state")
async def state(request: Request, tenant: str, objects: bool = True) -> dict[str, Any]:
    sim = _sim(request)
    store = sim.store
    _tenant(sim, tenant)
    out: dict[str, Any] = {
        "tenant": tenant,
        "settings": store.settings(tenant),
        "closed_grading_periods": [p.sourced_id for p in store.periods(tenant) if p.closed],
        "counts": {
            "lineItems": store.count("line_item", "tenant=?", [tenant]),
            "results": store.count("result", "tenant=?", [tenant]),
        },
        "duplicate_line_items": store.duplicate_line_items(tenant),
    }
    if objects:
        out["lineItems"] = store.all_objects("line_item", tenant)
        out["results"] = store.all_objects("result", tenant)
    return out


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    return _sim(request).telemetry.stats()


@router.post("/reset-stats")
async def reset_stats(request: Request) -> dict[str, Any]:
    """Clears the counters and the request log."""
    _sim(request).telemetry.reset()
    return {"status": "ok"}


@router.get("/requests")
async def requests(
    request: Request, tenant: str | None = None, since: int = 0, limit: int | None = None
) -> dict[str, Any]:
    return {"requests": _sim(request).telemetry.requests(tenant, since, limit)}


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    return _sim(request).faults.config.model_dump()


@router.post("/faults")
async def set_faults(request: Request, patch: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """Partial update: only the keys given change (``null`` clears a cap or a rate limit)."""
    try:
        config = await _sim(request).faults.update(patch)
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_context=False)) from None
    return config.model_dump()


@router.post("/tenants/{tenant}/settings")
async def set_settings(request: Request, tenant: str, patch: SettingsPatch) -> dict[str, bool]:
    sim = _sim(request)
    _tenant(sim, tenant)
    settings = {**sim.store.settings(tenant), **patch.model_dump(exclude_none=True)}
    sim.store.set_settings(tenant, settings)
    return settings


async def _period(request: Request, tenant: str, period_id: str, closed: bool) -> dict[str, Any]:
    sim = _sim(request)
    _tenant(sim, tenant)
    if not sim.store.set_period_closed(tenant, period_id, closed):
        raise HTTPException(404, f"no grading period {period_id!r} in tenant {tenant!r}")
    return {"tenant": tenant, "gradingPeriod": period_id, "closed": closed}


@router.post("/tenants/{tenant}/grading-periods/{period_id}/close")
async def close_period(request: Request, tenant: str, period_id: str) -> dict[str, Any]:
    return await _period(request, tenant, period_id, True)


@router.post("/tenants/{tenant}/grading-periods/{period_id}/open")
async def open_period(request: Request, tenant: str, period_id: str) -> dict[str, Any]:
    return await _period(request, tenant, period_id, False)


@router.post("/tenants/{tenant}/clients/{client_id}/revoke")
async def revoke_client(request: Request, tenant: str, client_id: str) -> dict[str, Any]:
    sim = _sim(request)
    _tenant(sim, tenant)
    if not sim.auth.revoke(tenant, client_id):
        raise HTTPException(404, f"no client {client_id!r} in tenant {tenant!r}")
    return {"tenant": tenant, "client_id": client_id, "revoked": True}


@router.post("/tenants/{tenant}/clients")
async def put_client(request: Request, tenant: str, client: ClientIn) -> dict[str, Any]:
    """Add a client or rotate its secret (and re-enable it); the secret is never echoed."""
    sim = _sim(request)
    _tenant(sim, tenant)
    sim.auth.put_client(tenant, client.client_id, client.client_secret, client.scopes)
    record = sim.store.client(tenant, client.client_id)
    return {"tenant": tenant, "client_id": client.client_id, "scopes": list(record.scopes) if record else []}


@router.post("/tenants/{tenant}/enrollments")
async def enrol(request: Request, tenant: str, enrollment: EnrollmentIn) -> dict[str, Any]:
    """Enrol a user in a class (the SIS's own roster change: a student Skyward enrols late)."""
    sim = _sim(request)
    _tenant(sim, tenant)
    sid = f"enr-{enrollment.class_id}-{enrollment.user_id}-{enrollment.role}"
    obj = {
        "sourcedId": sid,
        "status": "active",
        "dateLastModified": now_iso(),
        "role": enrollment.role,
        "primary": False,
        "user": ref(tenant, "user", enrollment.user_id),
        "class": ref(tenant, "class", enrollment.class_id),
    }
    sim.store.add_enrollment(tenant, sid, enrollment.class_id, enrollment.user_id, enrollment.role, dumps(obj))
    return {"tenant": tenant, "sourcedId": sid}


@router.post("/load-scenario")
async def load_scenario(request: Request, scenario: Scenario, reset_gradebook: bool = False) -> dict[str, Any]:
    """(Re)seed the rostering side of the scenario's tenants; their gradebooks stay unless reset_gradebook."""
    tenants = seed_scenario(_sim(request).store, scenario, reset_gradebook=reset_gradebook)
    return {"status": "ok", "tenants": tenants}


def register(app: FastAPI) -> None:
    app.include_router(router)
