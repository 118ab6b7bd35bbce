"""One district's run as plain library calls (no Prefect): the flows wrap these stages.

    preflight (SIS reads) -> extract (Otus source) -> evaluate (derive, GX, payloads, plan)
    -> load (writes, ledger acks) -> report (summary, Data Docs, run history)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd

from passback.domain.codes import Kind
from passback.domain.context import DistrictContext, grading_period_frame, local_now
from passback.oneroster.client import OneRosterClient
from passback.settings import Settings, get_settings
from passback.store import districts as store_districts
from passback.store import ledger as store_ledger
from passback.store import runs as store_runs
from passback.store.db import get_engine
from passback.store.locks import Lock, district_lock
from passback.store.secrets import decrypt_secret
from passback.sync.evaluate import Evaluation, evaluate
from passback.sync.load import LoadLimits, Loader, LoadResult
from passback.sync.report import DistrictSummary, summarise

log = logging.getLogger("passback.sync")

HEARTBEAT_S = 60.0  # a lock without a heartbeat for 15 minutes may be taken over (store.locks)
LEDGER_COLUMNS = ["assessment_id", "student_id", "payload_hash", "status"]


@dataclass
class RunOptions:
    dry_run: bool = False
    retry_rejected: bool = False
    max_writes: int | None = None
    max_seconds: float | None = None
    utc_now: dt.datetime | None = None
    lock_wait_s: float = 0.0
    build_docs: bool = True
    effective_date: dt.date | None = None  # backfill preview: evaluate with this date instead
    transport: httpx.AsyncBaseTransport | None = None  # tests: in-process simulator
    on_progress: Callable[[int, int], None] | None = None


@dataclass
class SisSnapshot:
    """What the SIS said at the start of the run."""

    grading_periods: pd.DataFrame
    categories: list[dict[str, Any]]
    active_categories: frozenset[str]
    closed_periods: frozenset[str] = frozenset()  # flagged closed by the SIS itself (metadata)


@dataclass
class DistrictRun:
    district_id: str
    options: RunOptions = field(default_factory=RunOptions)
    settings: Settings = field(default_factory=get_settings)
    run_id: str | None = None
    loader: Loader | None = None
    lock: Lock | None = None

    def __post_init__(self) -> None:
        self.engine = get_engine(self.settings.state_db_url)
        self.district = store_districts.get_district(self.engine, self.district_id)

    # -- set-up -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def guarded(self) -> Iterator[DistrictRun]:
        """Hold the district's lock and a run record for the duration of the run."""
        kind = "dry_run" if self.options.dry_run else "sync"
        with district_lock(self.engine, self.district_id, wait_s=self.options.lock_wait_s) as lock:
            self.lock = lock
            store_runs.abandon_running(self.engine, self.district_id)
            self.run_id = store_runs.start_run(self.engine, self.district_id, kind)
            yield self

    def client(self) -> OneRosterClient:
        return client_for(self.district, self.options.transport)

    # -- stages -----------------------------------------------------------------------------
    async def preflight(self, client: OneRosterClient) -> SisSnapshot:
        periods = await client.grading_periods()
        categories = await client.categories()
        gp = grading_period_frame([
            {"sourced_id": p.sourcedId, "title": p.title, "start_date": p.startDate, "end_date": p.endDate} for p in periods
        ])
        cats = [c.model_dump(mode="json") for c in categories]
        active = frozenset(c.sourcedId for c in categories if is_active_district_category(c))
        closed = frozenset(p.sourcedId for p in periods if is_closed_in_sis(p))
        return SisSnapshot(grading_periods=gp, categories=cats, active_categories=active, closed_periods=closed)

    def extract(self) -> Any:
        from passback.source.read import read_district

        return read_district(self.settings.source_db_url, self.district_id)

    def context(self, sis: SisSnapshot) -> DistrictContext:
        d = self.district
        return DistrictContext(
            district_id=d.id, timezone=d.timezone,
            effective_date=self.options.effective_date or d.effective_date,
            now_local=local_now(d.timezone, self.options.utc_now),
            mapping=store_districts.get_mapping(self.engine, d.id),
            grading_periods=sis.grading_periods, active_categories=sis.active_categories,
            closed_periods=frozenset(store_districts.closed_periods(self.engine, d.id)) | sis.closed_periods,
            grace_hours=d.grace_hours or 0.0,
        )

    def evaluate(self, source: Any, sis: SisSnapshot) -> Evaluation:
        line_items: list[pd.DataFrame] = []

        def read_ledger() -> tuple[pd.DataFrame, pd.DataFrame]:  # read late: not in memory during classification
            line_items.append(store_ledger.read_ledger(self.engine, self.district_id, Kind.line_item, columns=LEDGER_COLUMNS))
            # the results' ledger streams (batches of Arrow rows): it is never whole in memory
            return line_items[0], store_ledger.ledger_batches(self.engine, self.district_id, Kind.result, columns=LEDGER_COLUMNS)

        evaluation = evaluate(source, self.context(sis), read_ledger=read_ledger, retry_rejected=self.options.retry_rejected)
        ledger_li = line_items[0]
        evaluation.acked_line_items = pd.Index(ledger_li.loc[ledger_li["status"] == "acked", "assessment_id"])
        return evaluation

    async def load(self, client: OneRosterClient, evaluation: Evaluation, sis: SisSnapshot) -> LoadResult:
        d = self.district
        limits = LoadLimits(
            batch_size=getattr(d, "batch_size", None) or 500,
            max_writes=self.options.max_writes if self.options.max_writes is not None else getattr(d, "max_writes_per_run", None),
            deadline=time.monotonic() + self.options.max_seconds if self.options.max_seconds else None,
        )
        self.loader = loader = Loader(client, d.id, _LedgerSink(self), run_id=self.run_id or "", limits=limits,
                        on_progress=self.options.on_progress)
        newest_first = sis.grading_periods.sort_values("start_date", ascending=False)["sourced_id"].tolist()
        result = await loader.load(evaluation.plan, evaluation.acked_line_items, newest_first)
        loader.flush()
        return result

    def report(self, evaluation: Evaluation, load: LoadResult | None) -> DistrictSummary:
        summary = summarise(self.district_id, evaluation, load, dry_run=self.options.dry_run)
        summary.run_id = self.run_id
        if self.options.build_docs:
            summary.data_docs = self.build_docs(evaluation)
        return summary

    def build_docs(self, evaluation: Evaluation) -> str | None:
        from passback.quality import build_data_docs

        try:
            path = build_data_docs(evaluation.validation_results, self.settings.docs_dir / self.district_id)
        except Exception as exc:  # the report must not fail the run
            log.warning("district %s: Data Docs were not built: %s", self.district_id, exc)
            return None
        return str(path)

    def finish(self, summary: DistrictSummary) -> None:
        if self.run_id:
            store_runs.finish_run(self.engine, self.run_id, summary.status, summary.as_json(), summary.error, summary.data_docs)

    def fail(self, error: BaseException, evaluation: Evaluation | None) -> DistrictSummary:
        load = self.loader.result if self.loader is not None else None
        if evaluation is not None:
            summary = summarise(self.district_id, evaluation, load, dry_run=self.options.dry_run)
        else:
            summary = DistrictSummary(district=self.district_id, status="failed")
        summary.status = "failed"
        summary.error = str(error)
        summary.run_id = self.run_id
        self.finish(summary)
        return summary


class _LedgerSink:
    def __init__(self, run: DistrictRun) -> None:
        self.run = run
        self.beat = time.monotonic()

    def record(self, entries: list[dict[str, Any]]) -> None:
        if entries:
            store_ledger.record_acks(self.run.engine, self.run.district_id, entries, self.run.run_id)
        now = time.monotonic()
        if self.run.lock is not None and now - self.beat >= HEARTBEAT_S:  # long loads keep their lock
            self.run.lock.heartbeat()
            self.beat = now

    def mark_period_closed(self, grading_period_id: str, message: str) -> None:
        store_districts.mark_period_closed(self.run.engine, self.run.district_id, grading_period_id, "sis", message)


def client_for(district: Any, transport: httpx.AsyncBaseTransport | None = None) -> OneRosterClient:
    """The district's own client: its base URL, its token URL, its credentials — no one else's."""
    if not district.verify_tls:
        log.warning("district %s: TLS certificate verification is OFF (test hosts only)", district.id)
    return OneRosterClient(
        district.id, district.base_url, district.token_url, district.client_id,
        decrypt_secret(district.secret_ciphertext), concurrency=district.concurrency,
        rate_limit_per_s=district.rate_limit_per_s, verify=district.verify_tls, transport=transport,
        timeout=request_timeout(district.request_timeout_s),
    )


def request_timeout(seconds: float) -> httpx.Timeout:
    """A district's request timeout; connecting never waits longer than 5 s."""
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def is_closed_in_sis(period: Any) -> bool:
    """Skyward flags a closed grading period in its metadata; the period then refuses every write."""
    return (getattr(period, "metadata", None) or {}).get("skyward.gradingPeriodClosed") is True


def is_active_district_category(category: Any) -> bool:
    meta = getattr(category, "metadata", None) or {}
    district_level = meta.get("skyward.districtLevel", True) if isinstance(meta, dict) else True
    return str(getattr(category, "status", "active")).lower() == "active" and district_level is not False


async def sync_district(district_id: str, options: RunOptions | None = None, settings: Settings | None = None) -> DistrictSummary:
    """The whole district run without Prefect (the CLI's --no-prefect path and benchmarks)."""
    run = DistrictRun(district_id, options or RunOptions(), settings or get_settings())
    evaluation: Evaluation | None = None
    load: LoadResult | None = None
    with run.guarded():
        try:
            async with run.client() as client:
                sis = await run.preflight(client)
                evaluation = run.evaluate(run.extract(), sis)
                if not run.options.dry_run:
                    load = await run.load(client, evaluation, sis)
            summary = run.report(evaluation, load)
            run.finish(summary)
            return summary
        except Exception as exc:
            log.error("district %s failed: %s", district_id, exc)
            return run.fail(exc, evaluation)
