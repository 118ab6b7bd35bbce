"""What the simulator saw: a bounded in-memory request log and per-tenant counters.

Neither ever holds a secret or a token value: a request is recorded with its tenant, method,
path, the client id (from the token or the token request), its status and whether the bearer
token it carried was issued by this tenant.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_LOG = 200_000
# hostile answers whose HTTP status says "done" although nothing (new) was stored: counted under
# their name, not their status, so "PUTs answered 200/201" still means "stored"
NOT_STORED = frozenset({"html", "foreign_json", "phantom", "echo"})
HOSTILE = NOT_STORED | {"redirect", "drip", "oversize"}


@dataclass(slots=True)
class RequestRecord:
    seq: int
    at: float  # unix time
    tenant: str
    method: str
    path: str
    status: int | None  # None: the connection was dropped without an answer
    client_id: str | None = None
    token_tenant: str | None = None  # the tenant that issued the bearer token (never the token)
    token_tenant_matches: bool | None = None  # None: no (known) bearer token
    fault: str | None = None  # latency | throttled | error | hang | drop | a HOSTILE answer
    duration_ms: float = 0.0


@dataclass
class TenantStats:
    requests: int = 0
    token_requests: Counter[str] = field(default_factory=Counter)
    puts: dict[str, Counter[str]] = field(default_factory=lambda: {"lineItem": Counter(), "result": Counter()})
    deletes: dict[str, Counter[str]] = field(default_factory=lambda: {"lineItem": Counter(), "result": Counter()})
    reads: Counter[str] = field(default_factory=Counter)
    throttled_429: int = 0
    server_errors_5xx: int = 0
    dropped: int = 0
    hung: int = 0
    hostile: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "token_requests": dict(self.token_requests),
            "puts": {k: dict(v) for k, v in self.puts.items()},
            "deletes": {k: dict(v) for k, v in self.deletes.items()},
            "reads": dict(self.reads),
            "writes": sum(sum(c.values()) for c in (*self.puts.values(), *self.deletes.values())),
            "throttled_429": self.throttled_429,
            "server_errors_5xx": self.server_errors_5xx,
            "dropped": self.dropped,
            "hung": self.hung,
            "hostile": dict(self.hostile),
        }


def write_kind(path: str) -> str | None:
    """'lineItem' / 'result' for a gradebook item path (…/lineItems/{id}, …/results/{id}), else None."""
    parts = path.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] in ("lineItems", "results"):
        return "lineItem" if parts[-2] == "lineItems" else "result"
    return None


class Telemetry:
    def __init__(self, max_log: int = MAX_LOG) -> None:
        self.log: deque[RequestRecord] = deque(maxlen=max_log)
        self.tenants: dict[str, TenantStats] = {}
        self.seq = 0
        self.started = time.time()

    def reset(self) -> None:
        self.log.clear()
        self.tenants.clear()

    def record(self, rec: RequestRecord, *, is_token: bool) -> None:
        self.seq += 1
        rec.seq = self.seq
        self.log.append(rec)
        stats = self.tenants.get(rec.tenant)
        if stats is None:
            stats = self.tenants[rec.tenant] = TenantStats()
        stats.requests += 1
        status = rec.fault if rec.fault in NOT_STORED else str(rec.status) if rec.status is not None else "dropped"
        if rec.status is None:
            stats.dropped += 1
        elif rec.status == 429:
            stats.throttled_429 += 1
        elif rec.status >= 500:
            stats.server_errors_5xx += 1
        if rec.fault == "hang":
            stats.hung += 1
        elif rec.fault in HOSTILE:
            stats.hostile[rec.fault] += 1
        if is_token:
            stats.token_requests[status] += 1
            return
        kind = write_kind(rec.path)
        if rec.method == "PUT" and kind:
            stats.puts[kind][status] += 1
        elif rec.method == "DELETE" and kind:
            stats.deletes[kind][status] += 1
        elif rec.method == "GET":
            stats.reads[status] += 1

    def stats(self) -> dict[str, Any]:
        tenants = {t: s.as_dict() for t, s in sorted(self.tenants.items())}
        return {
            "uptime_s": round(time.time() - self.started, 3),
            "total_requests": sum(s.requests for s in self.tenants.values()),
            "total_writes": sum(t["writes"] for t in tenants.values()),
            "tenants": tenants,
        }

    def requests(self, tenant: str | None = None, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        rows = [asdict(r) for r in self.log if r.seq > since and (tenant is None or r.tenant == tenant)]
        return rows[-limit:] if limit else rows
