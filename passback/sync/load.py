"""The load: stream planned writes to the SIS, newest grading period first, lineItems before results.

The ledger is written from SIS acknowledgements only, one transaction per ``batch_size`` answers,
so a crash re-sends at most that many plus the requests in flight.  Rejections are the SIS's
verdict on an item and are recorded; transient failures are not (the next run retries them), nor
are answers that are not OneRoster acknowledgements (the client decides: ``oneroster.policy``).

Read-back: the first acknowledged write of each kind in a run goes alone and is read back (GET)
before anything else of that kind is sent or recorded; then a random sample (``readback_rate``,
about 1 in 1,000) is read back before its ledger batch is recorded.  A SIS that does not hold what
it acknowledged stops the district (``ReadBackMismatch``) and the unrecorded batch stays
unrecorded: the next run re-sends it.

Deletes (a district's ``propagate`` deletion policy; ``Plan.deletes``) go last, through the same
workers, pacing and bounds as the PUTs: an assessment's results, then its lineItem (not when one of
its results could not be deleted).  Each acknowledged DELETE reaches the sink as an entry whose
``action`` is ``"delete"``: the ledger forgets that row, so a rerun sends nothing more.
"""

from __future__ import annotations

import logging
import random
import time
from array import array
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from passback.domain.codes import Kind
from passback.domain.columns import is_in
from passback.domain.payloads import line_item_payload, result_payload
from passback.domain.plan import Plan
from passback.store.audit import values_of
from passback.sync.deletes import UNSENT, Deleter
from passback.sync.merge import apply_kept, read_and_merge
from passback.sync.verdicts import (
    Probation,
    SystemicRejection,
    is_closed_period_rejection,
    rejection_text,
    systemic_cause,
)

log = logging.getLogger("passback.load")


class ReadBackMismatch(RuntimeError):
    """The SIS acknowledged a write but does not hold what was written."""


class WriteClient(Protocol):
    def put_many(
        self, kind: str, items: Iterable[tuple[str, dict[str, Any]]], *, should_stop: Callable[[], bool] | None = None
    ) -> AsyncIterator[Any]: ...
    def delete_many(
        self, kind: str, sourced_ids: Iterable[str], *, should_stop: Callable[[], bool] | None = None
    ) -> AsyncIterator[Any]: ...
    async def read_back(self, kind: str, sourced_id: str, payload: dict[str, Any]) -> list[str]: ...
    async def get_line_item(self, sourced_id: str) -> Any: ...


class AckSink(Protocol):
    def record(self, entries: list[dict[str, Any]]) -> None: ...
    def mark_period_closed(self, grading_period_id: str, message: str) -> None: ...
    def last_sent(self, kind: str, assessment_ids: list[str]) -> dict[str, list[Any] | None]: ...
    def mark_period_open(self, grading_period_id: str) -> None: ...


@dataclass
class LoadLimits:
    batch_size: int = 500
    max_writes: int | None = None  # stop after this many writes (resume next run)
    deadline: float | None = None  # time.monotonic() after which no new write starts
    systemic_threshold: int = 20  # same rejection on the first N writes of a kind -> stop
    readback_rate: float = 0.001  # share of acknowledged writes read back (besides the first of each kind)
    readback_seed: int | None = None  # seed of the sample (tests)


@dataclass
class LoadResult:
    """Counts per kind and outcome, and one detail row per item that did not go through."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: {Kind.line_item: Counter(), Kind.result: Counter()})
    details: list[dict[str, Any]] = field(default_factory=list)
    closed_periods: set[str] = field(default_factory=set)
    writes: int = 0
    read_backs: int = 0
    seconds: float = 0.0
    stopped: str | None = None  # why the load ended early (budget, systemic rejection)
    # per kind, the plan-frame index labels (ints) of the items the SIS acknowledged, and whether it
    # answered "created" (1) or "updated" (0): 9 bytes a write, for the report's per-row outcomes
    written: dict[str, array] = field(default_factory=lambda: {Kind.line_item: array("q"), Kind.result: array("q")})
    written_created: dict[str, array] = field(
        default_factory=lambda: {Kind.line_item: array("b"), Kind.result: array("b")}
    )
    # deletes (propagate policy): per kind, counts by outcome (deleted, rejected, failed, closed, pending),
    # and one row per planned delete that did not go through, or went through (kind, ids, outcome, message)
    deleted: dict[str, Counter[str]] = field(
        default_factory=lambda: {Kind.line_item: Counter(), Kind.result: Counter()}
    )
    deletions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def writes_per_s(self) -> float:
        return self.writes / self.seconds if self.seconds > 0 else 0.0


class Loader:
    def __init__(
        self,
        client: WriteClient,
        district_id: str,
        sink: AckSink,
        *,
        run_id: str,
        limits: LoadLimits | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        probe_periods: set[str] | None = None,
    ) -> None:
        self.client = client
        self.district_id = district_id
        self.sink = sink
        self.run_id = run_id
        self.limits = limits or LoadLimits()
        self.on_progress = on_progress
        self.result = LoadResult()
        self._probation = {
            Kind.line_item: Probation(self.limits.systemic_threshold),
            Kind.result: Probation(self.limits.systemic_threshold),
        }
        self._verified: set[str] = set()  # kinds whose first acknowledged write was read back
        self._sample = random.Random(self.limits.readback_seed)
        self._total = 0
        self._last_tick = 0.0
        self.probe_periods = set(probe_periods or ())  # learned closed, re-checked by one write first (sync.heal)
        self._kept: dict[str, dict[str, Any]] = {}  # lineItem sourcedId -> fields kept as the SIS has them

    async def load(self, plan: Plan, acked_line_items: pd.Index, period_order: list[str]) -> LoadResult:
        """Write the plan's creates and updates.  ``acked_line_items``: assessment ids whose lineItem
        the SIS already holds (unchanged ones), so their new results can go."""
        started = time.monotonic()
        li = plan.line_item_writes
        res = plan.result_writes
        deletes = plan.deletes
        self._total = len(li) + len(res) + len(deletes)
        rank = {gp: i for i, gp in enumerate(period_order)}
        periods = sorted(
            set(li["grading_period_id"]) | set(res["grading_period_id"]), key=lambda gp: rank.get(gp, len(rank))
        )
        acked = set(acked_line_items)
        try:
            self._tick(force=True)
            for gp in periods:
                for kind, frame in ((Kind.line_item, li), (Kind.result, res)):
                    rows = frame[frame["grading_period_id"] == gp]
                    if kind == Kind.result and gp not in self.result.closed_periods:
                        # results of a lineItem the SIS does not hold are not attempted
                        ok_parent = is_in(rows["assessment_id"], acked)
                        self._note(kind, rows[~ok_parent], "blocked", "its lineItem was not accepted by the SIS")
                        rows = rows[ok_parent]
                    done = await self._load_rows(kind, rows, gp, acked)
                    self._tick(force=True)
                    if not done:
                        Deleter(self).note(deletes, "pending", UNSENT)
                        return self.result
            await Deleter(self).run(deletes)
            self._tick(force=True)
        finally:
            self.result.seconds = time.monotonic() - started
        return self.result

    def _tick(self, *, force: bool = False) -> None:
        """Report writes done / planned to ``on_progress`` (at most ~4 times a second)."""
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_tick >= 0.25:
            self._last_tick = now
            self.on_progress(self.result.writes, self._total)

    def _note(self, kind: str, rows: pd.DataFrame, outcome: str, message: str) -> None:
        if rows.empty:
            return
        self.result.counts[kind][outcome] += len(rows)
        self.result.details.extend(
            {"kind": kind, "assessment_id": a, "student_id": s, "outcome": outcome, "message": message}
            for a, s in zip(rows["assessment_id"], rows["student_id"], strict=True)
        )

    def _budget_left(self) -> bool:
        lim = self.limits
        if lim.max_writes is not None and self.result.writes >= lim.max_writes:
            self.result.stopped = f"write budget of {lim.max_writes} reached; the rest resumes next run"
            return False
        if lim.deadline is not None and time.monotonic() >= lim.deadline:
            self.result.stopped = "time budget reached; the rest resumes next run"
            return False
        return True

    async def _load_rows(self, kind: str, rows: pd.DataFrame, gp: str, acked: set[str]) -> bool:
        """Stream one kind of one grading period through the client's workers: one continuous
        stream (a slow retry at the end of a batch does not hold up the next), with the ledger
        written every ``batch_size`` answers, so a crash re-sends at most that many plus the
        requests in flight.  Until the first write of the kind in this run was acknowledged and
        read back, writes go one at a time (at most ``systemic_threshold + 1`` of them).  Returns
        False when a budget stopped the load."""
        if not self._budget_left():
            return False
        if gp in self.result.closed_periods:
            self._note(kind, rows, "closed", f"grading period {gp} is closed in the SIS")
            return True
        planned = rows
        if self.limits.max_writes is not None:
            rows = rows.iloc[: max(self.limits.max_writes - self.result.writes, 0)]
        if kind == Kind.line_item:
            rows = await self._merge(rows)
        taken, in_flight, stop_reason = 0, {}, None  # type: ignore[var-annotated]
        if gp in self.probe_periods and len(rows):  # one probe write: is the period open again?
            taken, in_flight, stop_reason, answered = await self._stream(kind, rows.iloc[:1], gp, acked)
            if answered and taken and gp not in self.result.closed_periods:
                self.probe_periods.discard(gp)
                self.sink.mark_period_open(gp)
        alone = min(len(rows), self.limits.systemic_threshold + 1)
        while kind not in self._verified and taken < alone and stop_reason is None and not self._halted(gp):
            n, in_flight, stop_reason, answered = await self._stream(kind, rows.iloc[taken : taken + 1], gp, acked)
            taken += n
            if n == 0 or not answered:  # a transient failure: the stream's own checks take over
                break
        if stop_reason is None and not self._halted(gp):
            n, in_flight, stop_reason, _ = await self._stream(kind, rows.iloc[taken:], gp, acked)
            taken += n
        if stop_reason is None and gp in self.result.closed_periods:
            unsent = (
                pd.DataFrame([r for r, _ in in_flight.values()], columns=["Index", *rows.columns]).set_index("Index")
                if in_flight
                else rows.iloc[:0]
            )
            self._note(
                kind, pd.concat([unsent, planned.iloc[taken:]]), "closed", f"grading period {gp} is closed in the SIS"
            )
        if stop_reason is not None:
            raise SystemicRejection(
                f"district {self.district_id}: the first {len(self._probation[kind].pending)} {kind} writes were all "  # type: ignore[index]
                f'rejected by the SIS with "{stop_reason}". Likely cause: {systemic_cause(stop_reason)}.'
            )
        if taken < len(planned) and gp not in self.result.closed_periods:
            self._budget_left()  # the write budget cut this stream: say so
        return self.result.stopped is None

    def _halted(self, gp: str) -> bool:
        return gp in self.result.closed_periods or not self._budget_left()

    async def _stream(
        self, kind: str, rows: pd.DataFrame, gp: str, acked: set[str]
    ) -> tuple[int, dict[str, Any], str | None, bool]:
        """Write ``rows``; returns (rows taken, the requests never answered, the systemic stop
        reason or None, whether every answer was the SIS's verdict rather than a failure)."""
        build = line_item_payload if kind == Kind.line_item else result_payload
        in_flight: dict[str, tuple[Any, dict[str, Any]]] = {}  # sourcedId -> (row, payload): sent, not yet answered
        taken = 0

        def items() -> Iterator[tuple[str, dict[str, Any]]]:  # lazy: payloads are built as workers take them
            nonlocal taken
            for row in rows.itertuples(index=True):
                sid, body = build(self.district_id, row)
                if sid in self._kept:
                    body = apply_kept(body, self._kept[sid])
                in_flight[sid] = (row, body)
                taken += 1
                yield sid, body

        entries: list[dict[str, Any]] = []
        probation = self._probation[kind]  # type: ignore[index]
        counts = self.result.counts[kind]
        stop_reason: str | None = None
        answered = True

        def should_stop() -> bool:
            return stop_reason is not None or self._halted(gp)

        try:  # what the SIS accepted reaches the ledger even when the stream ends on an error
            async for outcome in self.client.put_many(kind, items(), should_stop=should_stop):
                row, body = in_flight.pop(outcome.sourced_id)
                error = getattr(outcome, "error", None)
                if error is not None:
                    answered = False
                    counts["failed"] += 1
                    self._detail(kind, row, "failed", str(error))
                    continue
                if outcome.ok and (kind not in self._verified or self._sampled()):
                    await self._read_back(kind, outcome.sourced_id, body)  # before it (or anything after) is recorded
                self.result.writes += 1
                message = rejection_text(outcome)
                entry = {
                    "kind": kind,
                    "assessment_id": row.assessment_id,
                    "student_id": row.student_id,
                    "sourced_id": outcome.sourced_id,
                    "payload_hash": int(row.payload_hash),
                    "status": "acked" if outcome.ok else "rejected",
                    "http_status": outcome.http_status,
                    "sis_code": None if outcome.ok else getattr(outcome.rejection, "code_minor", None),
                    "sis_message": message or None,
                    "grading_period_id": row.grading_period_id,
                    "run_id": self.run_id,
                    "sent_score": getattr(row, "score", None) if outcome.ok else None,  # guards: scores that go down
                    # the audit trail's: what was written (its values, the plan's action) and the SIS's request id
                    "action": getattr(row, "action", None),
                    "sent": values_of(kind, row),
                    "request_id": getattr(outcome, "request_id", None),
                    "kept": self._kept.get(outcome.sourced_id),
                }
                if outcome.ok:
                    counts["created" if outcome.created else "updated"] += 1
                    self.result.written[kind].append(int(row.Index))
                    self.result.written_created[kind].append(1 if outcome.created else 0)
                    if kind == Kind.line_item:
                        acked.add(row.assessment_id)
                    entries.append(entry)
                elif is_closed_period_rejection(message):
                    counts["closed"] += 1
                    self._detail(kind, row, "closed", message)
                    entries.append({**entry, "period_closed": True})  # it waits for its period, not its schedule
                    if gp not in self.result.closed_periods:
                        self.result.closed_periods.add(gp)
                        self.sink.mark_period_closed(gp, message)
                else:
                    counts["rejected"] += 1
                    self._detail(kind, row, "rejected", message)
                    (probation.pending if probation.open else entries).append(entry)
                if probation.observe(outcome.ok, message):
                    stop_reason = message
                elif not probation.open and probation.pending:
                    entries.extend(probation.pending)
                    probation.pending = []
                if len(entries) >= self.limits.batch_size:
                    self.sink.record(entries)
                    entries = []
                self._tick()
        except ReadBackMismatch:
            entries = []  # the SIS does not hold what it acknowledges: record nothing more
            raise
        finally:
            self.sink.record(entries)
        return taken, in_flight, stop_reason, answered

    async def _merge(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Keep the fields a teacher changed in the SIS on each lineItem update (``sync.merge``); a
        lineItem whose SIS copy cannot be read is not sent this run (the next run retries it)."""
        kept, unread = await read_and_merge(self.client, self.sink, self.district_id, rows)
        self._kept.update(kept)
        for row, error in unread:
            self.result.counts[Kind.line_item]["failed"] += 1
            self._detail(
                Kind.line_item,
                row,
                "failed",
                f"its SIS copy could not be read before the update "
                f"(held for the next run so a teacher's edit is not overwritten): {error}",
            )
        return rows.drop(index=[row.Index for row, _ in unread]) if unread else rows

    def _sampled(self) -> bool:
        rate = self.limits.readback_rate
        return rate > 0 and self._sample.random() < rate

    async def _read_back(self, kind: str, sourced_id: str, payload: dict[str, Any]) -> None:
        differences = await self.client.read_back(kind, sourced_id, payload)
        self.result.read_backs += 1
        if differences:
            raise ReadBackMismatch(
                f"district {self.district_id}: the SIS acknowledged {kind} {sourced_id} but reading it back shows "
                f"{'; '.join(differences[:3])} — the SIS (or something in front of it) does not hold what it "
                f"acknowledges; stopped before recording more. Check the base URL with `passback district show "
                f"{self.district_id}` and the SIS, then rerun (what was not recorded is sent again)"
            )
        self._verified.add(kind)

    def _detail(self, kind: str, row: Any, outcome: str, message: str) -> None:
        self.result.details.append(
            {
                "kind": kind,
                "assessment_id": row.assessment_id,
                "student_id": row.student_id,
                "outcome": outcome,
                "message": message,
            }
        )

    def flush(self) -> None:
        """Record rejections still held on probation (call at the end of a load that completed)."""
        for probation in self._probation.values():
            if probation.pending:
                self.sink.record(probation.pending)
                probation.pending = []
