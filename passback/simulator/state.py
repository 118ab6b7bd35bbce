"""The live state one simulator app holds: store, auth, faults and telemetry."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from passback.simulator.auth import Auth, Token
from passback.simulator.errors import ApiError
from passback.simulator.faults import FaultRuntime
from passback.simulator.store import Store
from passback.simulator.telemetry import Telemetry


@dataclass
class SimState:
    store: Store
    faults: FaultRuntime
    default_lifetime_s: float
    telemetry: Telemetry = field(default_factory=Telemetry)
    auth: Auth = field(init=False)

    def __post_init__(self) -> None:
        self.auth = Auth(self.store, self.lifetime_s)

    def lifetime_s(self) -> float:
        override = self.faults.config.token_lifetime_s
        return self.default_lifetime_s if override is None else override

    def tenant(self, tenant: str) -> str:
        if not self.store.has_tenant(tenant):
            raise ApiError(404, "unknownobject", f"oneroster.unknown_tenant: no district {tenant!r} on this server")
        return tenant


def sim_of(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def authorize(request: Request, needed: tuple[str, ...]) -> tuple[SimState, str, Token]:
    """(state, tenant, token) for an API call, after the tenant, bearer and scope checks."""
    sim = sim_of(request)
    tenant = sim.tenant(request.path_params["tenant"])
    token = sim.auth.authorize(tenant, request.headers.get("authorization"), needed)
    return sim, tenant, token
