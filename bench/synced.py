"""A fully synced district without one HTTP request per write (``bench/run.py synced_m``).

The real first night runs — the one stage sequence (``passback.sync.sequence``): lock and run
record, pre-flight over HTTP against the simulator, extract, validate, plan, guards, the Loader with
its ledger batches and audit rows, the report — and only the transport of each PUT is replaced:
``DirectWrites.put_many`` encodes the client's own body (``passback.oneroster.client.encode`` of the
payload the Loader built) to the simulator's own PUT logic (``passback.simulator.gradebook.apply_put``:
licence, parse, check, render, ``Store.put_line_item`` / ``put_result`` — what its PUT handlers run
after the token check), in one SQLite transaction per stream, on the simulator's database file.  A refusal becomes
the outcome the client builds from the simulator's refusal body.  Read-backs read the same store.

So the ledger (sourcedIds, payload hashes, statuses), the audit and the simulator's stored objects
are what a full sync over HTTP leaves (``tests/bench/test_synced.py`` checks it on a small world), at
about 2,000 writes per CPU second instead of 15–30 writes per second (preset M: 368k writes).

The simulator process that answers the pre-flight must be restarted before anything else reads the
gradebook over HTTP: it caches collection counts, and these writes come from another connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from passback.oneroster.client import encode
from passback.oneroster.models import parse_status
from passback.oneroster.outcomes import WriteOutcome
from passback.oneroster.readback import differences, unwrap
from passback.simulator.errors import ApiError, status_body
from passback.simulator.gradebook import apply_put
from passback.simulator.store import Store
from passback.sync.district import DistrictRun, RunOptions
from passback.sync.load import LoadResult
from passback.sync.report import DistrictSummary
from passback.sync.sequence import Steps, run_district

_ENVELOPE = {"lineItem": "lineItem", "result": "result"}


class DirectWrites:
    """The district's client, its PUTs applied to the simulator's store in-process (see the module)."""

    def __init__(self, client: Any, store: Store, tenant: str) -> None:
        self._client, self.store, self.tenant = client, store, tenant
        self.writes = 0

    def __getattr__(self, name: str) -> Any:  # reads (get_line_item for the merge) go over HTTP as usual
        return getattr(self._client, name)

    def _put(self, kind: str, sourced_id: str, payload: dict[str, Any]) -> WriteOutcome:
        body = encode(_ENVELOPE[kind], payload)  # the bytes the client PUTs
        try:
            _, created = apply_put(self.store, self.tenant, kind, sourced_id, body)  # what the PUT handler does
        except ApiError as exc:
            if exc.status not in (400, 422):  # the client retries or stops on those: not modelled here
                raise RuntimeError(f"direct write of {kind} {sourced_id}: HTTP {exc.status} {exc.description}") from exc
            return WriteOutcome(
                sourced_id, False, exc.status, False, parse_status(status_body(exc.code_minor, exc.description))
            )
        self.writes += 1
        return WriteOutcome(sourced_id, True, 201 if created else 200, created)

    def put_many(
        self,
        kind: str,
        items: Iterable[tuple[str, dict[str, Any]]],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> AsyncIterator[WriteOutcome]:
        async def stream() -> AsyncIterator[WriteOutcome]:
            db = self.store.db
            db.execute("BEGIN")
            try:
                for sourced_id, payload in items:
                    if should_stop is not None and should_stop():
                        break
                    yield self._put(kind, sourced_id, payload)
            finally:
                db.execute("COMMIT")  # what was answered is stored, as the simulator stores each PUT

        return stream()

    async def read_back(self, kind: str, sourced_id: str, payload: dict[str, Any]) -> list[str]:
        envelope = _ENVELOPE[kind]
        got = (
            self.store.line_item(self.tenant, sourced_id)
            if kind == "lineItem"
            else self.store.result(self.tenant, sourced_id)
        )
        if got is None:
            return [f"the SIS has no {envelope} {sourced_id} (GET answered 404)"]
        return differences(envelope, unwrap(payload, envelope), got[2])


class DirectSteps(Steps):
    """The plain sequence, its load writing through ``DirectWrites``."""

    def __init__(self, store: Store, tenant: str) -> None:
        self.store, self.tenant = store, tenant

    async def load(self, run: DistrictRun, client: Any, evaluation: Any, sis: Any) -> LoadResult:
        return await run.load(DirectWrites(client, self.store, self.tenant), evaluation, sis)


async def sync_direct(
    district_id: str, sim_db: str, options: RunOptions | None = None, tenant: str | None = None
) -> DistrictSummary:
    """A district run whose writes go straight into the simulator database ``sim_db`` (its tenant: the
    district id, as ``passback demo`` registers it)."""
    store = Store(sim_db)
    try:
        return await run_district(
            district_id, options or RunOptions(build_docs=False), DirectSteps(store, tenant or district_id)
        )
    finally:
        store.close()
