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
from passback.guards import GuardDecision, writes_of
from passback.guards.measure import SENT_COLUMNS
from passback.oneroster.client import OneRosterClient
from passback.report.job import ReportJob, Written
from passback.settings import Settings, get_settings
from passback.store import districts as store_districts
from passback.store import ledger as store_ledger
from passback.store import runs as store_runs
from passback.store.db import get_engine
from passback.store.locks import Lock, district_lock
from passback.store.secrets import decrypt_secret
from passback.store.urls import plain_http_host, url_problem
from passback.sync import heal, progress, refusals
from passback.sync.evaluate import Classified, Evaluation, evaluate
from passback.sync.load import Loader, LoadLimits, LoadResult
from passback.sync.report import DistrictSummary, summarise

log = logging.getLogger("passback.sync")

PREFLIGHT_BUDGET_S = 120.0  # the pre-flight reads (grading periods, categories) end within this, whatever the SIS does


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
    preflight_budget_s: float = PREFLIGHT_BUDGET_S
    flow_run_id: str | None = None  # the Prefect flow run running this district (kept in the run record)


@dataclass
class SisSnapshot:
    """What the SIS said at the start of the run."""

    grading_periods: pd.DataFrame
    categories: list[dict[str, Any]]
    active_categories: frozenset[str]
    closed_periods: frozenset[str] = frozenset()  # flagged closed by the SIS itself (metadata)
    open_periods: dict[str, str | None] = field(default_factory=dict)  # flagged open by the SIS -> its dateLastModified


@dataclass
class DistrictRun:
    district_id: str
    options: RunOptions = field(default_factory=RunOptions)
    settings: Settings = field(default_factory=get_settings)
    run_id: str | None = None
    loader: Loader | None = None
    lock: Lock | None = None
    decision: GuardDecision | None = None  # the guard stage's answer (passback.guards)

    def __post_init__(self) -> None:
        self.engine = get_engine(self.settings.state_db_url)
        self.district = store_districts.get_district(self.engine, self.district_id)
        self._periods: heal.PeriodCheck | None = None
        self._sis_open: dict[str, str | None] = {}

    # -- set-up -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def guarded(self) -> Iterator[DistrictRun]:
        """Hold the district's lock (heartbeaten on its own timer for the whole run: extract,
        evaluate, load, pauses) and a run record for the duration of the run."""
        with district_lock(
            self.engine,
            self.district_id,
            wait_s=self.options.lock_wait_s,
            stale_after_s=self.settings.lock_takeover_s,
            keep_alive=True,
        ) as lock:
            self.lock = lock
            store_runs.abandon_running(self.engine, self.district_id)
            self.started = time.perf_counter()
            self.run_id = store_runs.start_run(self.engine, self.district_id, self.kind, self.options.flow_run_id)
            yield self

    @property
    def kind(self) -> str:
        """sync, dry_run, or backfill (a preview evaluated with another effective date)."""
        if self.options.effective_date is not None:
            return "backfill"
        return "dry_run" if self.options.dry_run else "sync"

    @property
    def now(self) -> dt.datetime:
        """The run's clock (naive UTC): ``RunOptions.utc_now`` (simulated nights) or the wall clock."""
        given = self.options.utc_now
        if given is None:
            return dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return given.astimezone(dt.UTC).replace(tzinfo=None) if given.tzinfo is not None else given

    def client(self) -> OneRosterClient:
        return client_for(self.district, self.options.transport)

    # -- stages -----------------------------------------------------------------------------
    async def preflight(self, client: OneRosterClient) -> SisSnapshot:
        async with client.time_budget(self.options.preflight_budget_s, "the pre-flight reads"):
            periods = await client.grading_periods()
            categories = await client.categories()
        gp = grading_period_frame(
            [
                {"sourced_id": p.sourcedId, "title": p.title, "start_date": p.startDate, "end_date": p.endDate}
                for p in periods
            ]
        )
        cats = [c.model_dump(mode="json") for c in categories]
        active = frozenset(c.sourcedId for c in categories if is_active_district_category(c))
        closed = frozenset(p.sourcedId for p in periods if is_closed_in_sis(p))
        return SisSnapshot(
            grading_periods=gp,
            categories=cats,
            active_categories=active,
            closed_periods=closed,
            open_periods=heal.open_in_sis(periods),
        )

    async def snapshot(self) -> tuple[SisSnapshot, Any]:
        """The pre-flight reads and the source, without a lock or a run record (read-only commands)."""
        async with self.client() as client:
            sis = await self.preflight(client)
        return sis, self.extract()

    def extract(self) -> Any:
        from passback.source.read import read_district

        return read_district(self.settings.source_db_url, self.district_id)

    def context(self, sis: SisSnapshot) -> DistrictContext:
        d = self.district
        return DistrictContext(
            district_id=d.id,
            timezone=d.timezone,
            effective_date=self.options.effective_date or d.effective_date,
            now_local=local_now(d.timezone, self.options.utc_now),
            mapping=store_districts.get_mapping(self.engine, d.id),
            grading_periods=sis.grading_periods,
            active_categories=sis.active_categories,
            closed_periods=self.period_check(sis).closed | sis.closed_periods,
            grace_hours=d.grace_hours or 0.0,
        )

    def period_check(self, sis: SisSnapshot) -> heal.PeriodCheck:
        """The closed grading periods, those learned closed re-checked (``sync.heal``)."""
        if self._periods is None:
            self._sis_open = sis.open_periods
            self._periods = heal.check(self.engine, self.district_id, sis.open_periods, self.now)
        return self._periods

    def evaluate(
        self,
        source: Any,
        sis: SisSnapshot,
        *,
        context: DistrictContext | None = None,
        classified: Classified | None = None,
    ) -> Evaluation:
        """Classify (unless ``classified`` by the helper process, with ``context``), build the payloads
        and diff them with the ledger."""
        line_items: list[pd.DataFrame] = []
        context = context or self.context(sis)
        # The results' ledger is read from now on by a thread of its own (SQLite and the Arrow parser
        # work without the GIL while GX classifies on this one), up to a bounded number of bytes
        # ahead of the diff that consumes it: it is never whole in memory beyond that budget.
        early = [store_ledger.prefetched_batches(self.engine, self.district_id, Kind.result)]
        results = store_ledger.AckCounter(
            lambda: early.pop() if early else store_ledger.ledger_batches(self.engine, self.district_id, Kind.result)
        )

        def read_ledger() -> tuple[pd.DataFrame, Any]:  # read late: not in memory during classification
            line_items.append(store_ledger.read_ledger(self.engine, self.district_id, Kind.line_item))
            return line_items[0], results

        try:
            evaluation = evaluate(
                source,
                context,
                read_ledger=read_ledger,
                retry_rejected=self.options.retry_rejected,
                now=store_ledger.epoch_seconds(self.now),
                classified=classified,
            )
        finally:  # not consumed (nothing desired, or an error): stop the reader, drop its batches
            for stream in early:
                stream.close()
        ledger_li = line_items[0]
        if self.district.deletion_policy == "propagate":
            from passback.sync.deletes import planned_deletes

            evaluation.plan.deletes = planned_deletes(
                self.engine, self.district_id, evaluation.assessments, context.closed_periods
            )
        evaluation.acked_line_items = pd.Index(ledger_li.loc[ledger_li["status"] == "acked", "assessment_id"])
        # what the SIS held before, for the guards (the results' ledger is read again only for updates)
        if results.complete:  # counted as the diff streamed it
            acked = results.acked
        else:
            acked = store_ledger.ledger_counts(self.engine, self.district_id).get(Kind.result, {}).get("acked", 0)
        evaluation.guard_writes = writes_of(evaluation.plan, ledger_li, self.sent_results, results_acked=acked)
        return evaluation

    def sent_results(self) -> Any:
        return store_ledger.ledger_batches(self.engine, self.district_id, Kind.result, columns=SENT_COLUMNS)

    async def load(self, client: OneRosterClient, evaluation: Evaluation, sis: SisSnapshot) -> LoadResult:
        d = self.district
        if self.lock is not None:
            self.lock.check()  # taken over during extract or evaluate: write nothing
        limits = LoadLimits(
            batch_size=getattr(d, "batch_size", None) or 500,
            max_writes=self.options.max_writes
            if self.options.max_writes is not None
            else getattr(d, "max_writes_per_run", None),
            deadline=time.monotonic() + self.options.max_seconds if self.options.max_seconds else None,
        )
        writer: Any = client if self.lock is None else _WhileLocked(client, self.lock)
        periods = self.period_check(sis)
        heal.forget(self.engine, d.id, periods.reopened)  # the SIS says they are open again: their items resume
        self.loader = loader = Loader(
            writer,
            d.id,
            _LedgerSink(self),
            run_id=self.run_id or "",
            limits=limits,
            on_progress=progress.writes_callback(d.id, self.options.on_progress),
            probe_periods=set(periods.probe),
        )
        newest_first = sis.grading_periods.sort_values("start_date", ascending=False)["sourced_id"].tolist()
        result = await loader.load(evaluation.plan, evaluation.acked_line_items, newest_first)
        if self.lock is not None:
            self.lock.check()  # the load stopped because the lock was taken over: the run fails, saying so
        loader.flush()
        return result

    def backfill_preview(self, source: Any, sis: SisSnapshot, evaluation: Evaluation) -> dict[str, Any]:
        """Which assessments change status under the previewed effective date, and the writes it causes."""
        from passback.report import backfill as preview

        before = preview.current_reasons(self, source, sis)
        return preview.preview(
            self.district_id, self.district.effective_date, self.options.effective_date, before, evaluation
        ).as_json()

    def report(self, evaluation: Evaluation, load: LoadResult | None) -> DistrictSummary:
        """The summary and this run's report, written here (the flows' report task may hand it to the
        helper process: ``tasks.report``)."""
        summary, job = self.report_parts(evaluation, load)
        return summary if job is None else self.attach_report(summary, job.write())

    def report_parts(self, evaluation: Evaluation, load: LoadResult | None) -> tuple[DistrictSummary, ReportJob | None]:
        """The summary, and the job that writes the report (None when none is built)."""
        summary = self._summary(summarise(self.district_id, evaluation, load, dry_run=self.options.dry_run))
        return summary, self.report_job(summary, evaluation, load)

    def _summary(self, summary: DistrictSummary) -> DistrictSummary:
        summary.run_id = self.run_id
        summary.kind = self.kind
        summary.detail = str(self.options.effective_date) if self.options.effective_date else None
        summary.run_seconds = time.perf_counter() - getattr(self, "started", time.perf_counter())
        if self.decision is not None:
            self.decision.settle(summary)  # held: the status and counts the report shows
        refusals.annotate(self.engine, self.district_id, summary.rejected)  # "refused N times since ..., next try ..."
        return summary

    @property
    def site(self) -> Any:
        from passback.report.site import ReportSite

        return ReportSite.from_settings(self.settings)

    def _started_at(self) -> dt.datetime:
        run = store_runs.get_run(self.engine, self.run_id) if self.run_id else None
        return run.started_at if run is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def report_job(
        self, summary: DistrictSummary, evaluation: Evaluation | None, load: LoadResult | None
    ) -> ReportJob | None:
        """What this run's report folder needs (None when no report is built: ``build_docs`` off, no
        run record).  A failed run's (``evaluation`` None or status failed) is a failure page."""
        if not (self.options.build_docs and self.run_id):
            return None
        return ReportJob(
            settings=self.settings,
            district_id=self.district_id,
            run_id=self.run_id,
            kind=self.kind,
            detail=summary.detail,
            started_at=self._started_at(),
            summary=summary.as_json(),
            evaluation=evaluation,
            load=load,
            dry_run=self.options.dry_run,
        )

    def attach_report(self, summary: DistrictSummary, written: Written) -> DistrictSummary:
        """The report's page into the summary; a report that was not written is a warning only."""
        if written.error is not None:
            log.warning("district %s: the validation report was not written: %s", self.district_id, written.error)
        summary.report_page = written.page
        summary.data_docs = self.site.location(written.page)
        if written.top_held:
            summary.top_held = written.top_held
        return summary

    def finish(self, summary: DistrictSummary) -> None:
        if self.run_id:
            store_runs.finish_run(
                self.engine, self.run_id, summary.status, summary.as_json(), summary.error, summary.report_page
            )
        if not self.options.dry_run:
            self.prune_audit()
        if self.options.build_docs:
            from passback.report.index import publish_index

            try:
                publish_index(self.site, self.engine, self.district_id)
            except Exception as exc:  # noqa: BLE001 - the report must not fail the run
                log.warning("district %s: the report index was not rebuilt: %s", self.district_id, exc)

    def prune_audit(self) -> int:
        """Audit rows older than the district's retention go (never fails the run)."""
        from passback.store.audit import prune

        try:
            return prune(
                self.engine, self.district_id, older_than_days=self.district.audit_retention_days, now=self.now
            )
        except Exception as exc:  # noqa: BLE001 - housekeeping must not fail the run
            log.warning("district %s: old audit rows were not pruned: %s", self.district_id, exc)
            return 0

    def fail(self, error: BaseException, evaluation: Evaluation | None) -> DistrictSummary:
        log.debug("district %s failed", self.district_id, exc_info=error)
        load = self.loader.result if self.loader is not None else None
        if evaluation is not None:
            summary = summarise(self.district_id, evaluation, load, dry_run=self.options.dry_run)
        else:
            summary = DistrictSummary(district=self.district_id, status="failed")
        summary.status = "failed"
        summary.error = str(error)
        self._summary(summary)
        job = self.report_job(summary, None, load)
        if job is not None:
            self.attach_report(summary, job.write())
        self.finish(summary)
        return summary


class _WhileLocked:
    """The client, as the load sees it: no new write starts once the lock was taken over."""

    def __init__(self, client: OneRosterClient, lock: Lock) -> None:
        self._client, self._lock = client, lock

    def _stop(self, should_stop: Callable[[], bool] | None) -> Callable[[], bool]:
        return lambda: self._lock.lost.is_set() or (should_stop is not None and should_stop())

    def put_many(self, kind: Any, items: Any, *, should_stop: Callable[[], bool] | None = None) -> Any:
        return self._client.put_many(kind, items, should_stop=self._stop(should_stop))

    def delete_many(self, kind: Any, sourced_ids: Any, *, should_stop: Callable[[], bool] | None = None) -> Any:
        return self._client.delete_many(kind, sourced_ids, should_stop=self._stop(should_stop))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _LedgerSink:
    def __init__(self, run: DistrictRun) -> None:
        self.run = run

    def record(self, entries: list[dict[str, Any]]) -> None:
        if entries:  # what the SIS acknowledged is recorded, even after a takeover: it is the truth
            store_ledger.record_acks(
                self.run.engine,
                self.run.district_id,
                entries,
                self.run.run_id,
                now=self.run.now,
                retry_max_days=self.run.district.refusal_retry_max_days,
            )

    def mark_period_closed(self, grading_period_id: str, message: str) -> None:
        heal.note_closed(
            self.run.engine,
            self.run.district_id,
            grading_period_id,
            message,
            self.run.now,
            self.run._sis_open.get(grading_period_id),
        )

    def mark_period_open(self, grading_period_id: str) -> None:
        heal.forget(self.run.engine, self.run.district_id, {grading_period_id})

    def last_sent(self, kind: str, assessment_ids: list[str]) -> dict[str, list[Any] | None]:
        return store_ledger.last_sent(self.run.engine, self.run.district_id, kind, assessment_ids)


def client_for(district: Any, transport: httpx.AsyncBaseTransport | None = None) -> OneRosterClient:
    """The district's own client: its base URL, its token URL, its credentials — no one else's.

    The URLs are checked again (a row stored before the rule existed may hold a password or plain
    http); the opt-outs of TLS verification and of https are warned on every run."""
    allow_http = bool(getattr(district, "allow_http", False))
    for label, url in (("base URL", district.base_url), ("token URL", district.token_url)):
        problem = url_problem(url, allow_http=allow_http)
        if problem:
            raise ValueError(
                f"district {district.id}: the {label} {problem}; fix it with "
                f"`passback district set {district.id} --{label.split()[0]}-url URL`"
            )
    if not district.verify_tls:
        log.warning("district %s: TLS certificate verification is OFF (test hosts only)", district.id)
    hosts = sorted({h for h in (plain_http_host(district.base_url), plain_http_host(district.token_url)) if h})
    if hosts:
        log.warning(
            "district %s: plain http to %s is allowed (--allow-http): the client secret, tokens and grades "
            "travel unencrypted (test hosts only)",
            district.id,
            ", ".join(hosts),
        )
    return OneRosterClient(
        district.id,
        district.base_url,
        district.token_url,
        district.client_id,
        decrypt_secret(district.secret_ciphertext),
        concurrency=district.concurrency,
        rate_limit_per_s=district.rate_limit_per_s,
        verify=district.verify_tls,
        transport=transport,
        timeout=request_timeout(district.request_timeout_s),
    )


def request_timeout(seconds: float) -> httpx.Timeout:
    """A district's request timeout; connecting never waits longer than 5 s."""
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def is_closed_in_sis(period: Any) -> bool:
    """Skyward flags a closed grading period in its metadata; the period then refuses every write."""
    return (getattr(period, "metadata", None) or {}).get("skyward.gradingPeriodClosed") is True


def category_problem(category: Any) -> str | None:
    """THE rule for a category lineItems may use (mapping set, doctor and the sync all ask here):
    None when it is active and district-level, else why not.  ``category``: a model or its JSON."""

    def field(name: str) -> Any:
        return category.get(name) if isinstance(category, dict) else getattr(category, name, None)

    status = str(field("status") or "active").lower()
    if status != "active":
        return f"the SIS marks it {status!r} (being deleted)"
    meta = field("metadata")
    if isinstance(meta, dict) and meta.get("skyward.districtLevel", True) is False:
        return "it is a school-level category (Skyward accepts only district-level categories through the API)"
    return None


def is_active_district_category(category: Any) -> bool:
    return category_problem(category) is None


async def sync_district(
    district_id: str, options: RunOptions | None = None, settings: Settings | None = None
) -> DistrictSummary:
    """The whole district run without Prefect (benchmarks, tests): the one sequence, stages called directly."""
    from passback.sync.sequence import run_district

    return await run_district(district_id, options, settings=settings or get_settings())
