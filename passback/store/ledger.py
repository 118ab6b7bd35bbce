"""The ledger: what the SIS acknowledged, per lineItem and result.  The hot path: read whole for a
district (millions of rows: as Arrow through ADBC on PostgreSQL, in large cursor batches on SQLite)
and upserted one batch per transaction.

Never ADBC on a SQLite state DB: its driver carries its own copy of the SQLite library, and two
copies in one process break SQLite's POSIX locks (closing the driver's handle drops the locks of
Python's ``sqlite3`` connections to the same file; sqlite.org/howtocorrupt.html 2.2.1).  Measured:
a sync that read the ledger through ADBC let another process's committed DELETE vanish from the WAL."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

from passback.domain.columns import release_memory
from passback.domain.plan import LEDGER_COLUMNS as DEFAULT_COLUMNS  # what the diff needs
from passback.domain.plan import NEVER, RETRY_SLACK_S, refusal_wait_days
from passback.store import audit, sqlite_read
from passback.store.ahead import ReadAhead, read_ahead
from passback.store.models import LedgerEntry, utcnow

TABLE = LedgerEntry.__table__  # type: ignore[attr-defined]
KEY = ["district_id", "kind", "assessment_id", "student_id"]
ALL_COLUMNS = [c.name for c in TABLE.columns]
DEFAULT_RETRY_MAX_DAYS = 7
STREAM_BATCH_ROWS = 262_144  # ledger_batches: few batches (each one re-hashes the ids it is matched against), small enough that one read ahead costs no memory (L: +80 MB at 524,288)
READ_AHEAD = 1  # ledger_batches: batches read ahead of the diff, on a thread of their own
# prefetched_batches: the most batch bytes read ahead of the diff (L's whole ledger: ~185 MB; with
# 128 MB noop-L peaked at 1,974 MB in one run)
PREFETCH_BYTES = 96 << 20
log = logging.getLogger("passback.store")


def read_ledger(engine: Engine, district_id: str, kind: str, *, columns: list[str] | None = None) -> pd.DataFrame:
    """The district's ledger rows of one kind as a frame (payload_hash int64, text as ``str``)."""
    cols = _checked(columns)
    sql = f"SELECT {', '.join(cols)} FROM ledger_entry WHERE district_id = :d AND kind = :k"  # noqa: S608 - names checked above
    table = _read_arrow(engine, sql, (district_id, kind))
    if table is None and engine.dialect.name == "sqlite" and sqlite_read.fits(TABLE, cols):
        batches = list(_row_batches(engine, sql, (district_id, kind), cols))
        table = pa.Table.from_batches(
            [pa.record_batch(list(b.values()), names=cols) for b in batches],
            schema=pa.schema([(c, sqlite_read.arrow_type(TABLE, c)) for c in cols]),
        )
        del batches
    if table is not None:
        frame = table.rename_columns(cols).to_pandas(types_mapper=_text_as_str, self_destruct=True)
    else:
        frame = pd.DataFrame.from_records(_read_rows(engine, sql, (district_id, kind)), columns=cols)
    for col in cols:
        if col in ("payload_hash", "retry_at", "refusals"):
            frame[col] = frame[col].astype("int64")
        elif col in ("http_status", "sent_score"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        elif col not in ("updated_at", "refused_since") and frame[col].dtype != "str":
            frame[col] = frame[col].astype("str")
    return frame


def ledger_batches(engine: Engine, district_id: str, kind: str, *, columns: list[str] | None = None) -> Iterator[Any]:
    """The same rows as ``read_ledger``, as a stream of batches (``{column: Arrow array}``, in key
    order on SQLite): for a diff that never holds the whole ledger (L: 3.5M rows).  The batches are
    read on a thread of their own, one ahead of the consumer (``store/ahead.py``: L's diff matches a
    batch while the next is read); not for an in-memory SQLite database (one database per thread)."""
    cols = _checked(columns)
    if _in_memory(engine):
        yield from _batches(engine, district_id, kind, cols)
    else:
        yield from read_ahead(lambda: _batches(engine, district_id, kind, cols), depth=READ_AHEAD)


def prefetched_batches(
    engine: Engine, district_id: str, kind: str, *, budget: int = PREFETCH_BYTES, columns: list[str] | None = None
) -> Any:
    """``ledger_batches``' rows, read from now on by a thread of its own, at most ``budget`` bytes of
    batches ahead of the consumer (``store/ahead.ReadAhead``; L's results ledger: ~185 MB, read
    while the rows are classified).  Iterate it once; ``close()`` it when it may not be iterated to
    the end.  An in-memory SQLite database is read when iterated (one database per thread)."""
    cols = _checked(columns)
    if _in_memory(engine):
        return _batches(engine, district_id, kind, cols)
    batches = _batches(engine, district_id, kind, cols)
    return ReadAhead(lambda: map(_compact, batches), budget=budget, size=_nbytes).start()


def _checked(columns: list[str] | None) -> list[str]:
    cols = columns or DEFAULT_COLUMNS
    unknown = set(cols) - set(ALL_COLUMNS)
    if unknown:
        raise ValueError(f"unknown ledger columns: {sorted(unknown)}")
    return cols


def _in_memory(engine: Engine) -> bool:
    """An in-memory SQLite database (a single-connection pool): one database per thread, so not read on another."""
    return engine.dialect.name == "sqlite" and not isinstance(engine.pool, QueuePool)


def _compact(batch: dict[str, Any]) -> dict[str, Any]:
    """Each column copied into buffers of its own size: the readers' buffers grow by doubling (L's
    results ledger: ~280 MB allocated for 185 MB of values), and a prefetched batch waits in memory."""
    out = {
        col: pa.concat_arrays([values, pa.array([], values.type)]) if isinstance(values, pa.Array) else values
        for col, values in batch.items()
    }
    del batch
    release_memory()
    return out


def _nbytes(batch: dict[str, Any]) -> int:
    return sum(int(getattr(values, "nbytes", 0)) for values in batch.values())


def _batches(engine: Engine, district_id: str, kind: str, cols: list[str]) -> Iterator[Any]:
    sql = f"SELECT {', '.join(cols)} FROM ledger_entry WHERE district_id = :d AND kind = :k"  # noqa: S608 - names checked above
    conn, query = _arrow_connection(engine, sql)
    if conn is None:
        yield from _row_batches(engine, sql, (district_id, kind), cols)
        return
    started = False
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, (district_id, kind))
            for batch in cursor.fetch_record_batch():
                if batch.num_rows:
                    started = True
                    yield dict(zip(cols, batch.columns, strict=True))
    except Exception as exc:
        if started:  # half a ledger was matched already: a retry would not know which half
            raise
        log.debug("ledger: the Arrow read failed (%s); reading rows through the DBAPI", type(exc).__name__)
    else:
        return
    finally:
        conn.close()
    yield from _row_batches(engine, sql, (district_id, kind), cols)


class AckCounter:
    """A results' ledger stream (``batches()`` -> ``ledger_batches``) that counts its acknowledged
    rows as they pass: the guards need that count, and a separate ``COUNT(*) ... GROUP BY status``
    reads every row of the table again (L: 5 s CPU).  ``complete`` once a pass reached the end."""

    def __init__(self, batches: Any) -> None:
        self._batches = batches
        self.acked = 0
        self.complete = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.acked, self.complete = 0, False
        for batch in self._batches():
            status = batch["status"]
            status = status if isinstance(status, pa.Array | pa.ChunkedArray) else pa.array(status, type=pa.string())
            self.acked += int(pc.sum(pc.equal(status, "acked")).as_py() or 0)
            yield batch
        self.complete = True


def _row_batches(engine: Engine, sql: str, params: tuple[str, str], cols: list[str]) -> Iterator[dict[str, Any]]:
    """The rows in batches of ``STREAM_BATCH_ROWS``, each column an Arrow array: on SQLite as
    blobs SQLite concatenates and pyarrow parses (``store/sqlite_read``) when the columns allow it,
    otherwise through the DBAPI cursor."""
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite" and sqlite_read.fits(TABLE, cols):
            yield from sqlite_read.blob_batches(raw.driver_connection, TABLE, *params, cols, STREAM_BATCH_ROWS)
            return
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        cursor = raw.cursor()
        cursor.execute(sql.replace(":d", mark).replace(":k", mark), params)
        while rows := cursor.fetchmany(STREAM_BATCH_ROWS):
            columns = list(zip(*rows, strict=True))
            del rows
            yield {
                col: pa.array(values, type=pa.int64() if col == "payload_hash" else None)
                for col, values in zip(cols, columns, strict=True)
            }
        cursor.close()
    finally:
        raw.close()


def _arrow_connection(engine: Engine, sql: str) -> tuple[Any, str]:
    """An ADBC connection to a PostgreSQL state DB and the query in its parameter style (None otherwise:
    SQLite is read through Python's own ``sqlite3``, see the module doc)."""
    url = engine.url
    try:
        if url.get_backend_name() == "postgresql":
            import adbc_driver_postgresql.dbapi as adbc

            conn = adbc.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
            return conn, sql.replace(":d", "$1").replace(":k", "$2")
    except Exception as exc:  # noqa: BLE001 - no usable driver: the DBAPI path reads the same rows
        log.debug("ledger: no Arrow driver (%s); reading rows through the DBAPI", type(exc).__name__)
    return None, sql


def _text_as_str(arrow_type: pa.DataType) -> Any:
    return pd.StringDtype("pyarrow", na_value=float("nan")) if arrow_type in (pa.string(), pa.large_string()) else None


def _read_arrow(engine: Engine, sql: str, params: tuple[str, str]) -> pa.Table | None:
    """The rows as one Arrow table through the PostgreSQL ADBC driver: millions of rows
    without a Python object per value.  None when no driver fits or the driver cannot type a column
    (SQLite: see the module doc): the caller reads through the DBAPI cursor instead."""
    conn, query = _arrow_connection(engine, sql)
    if conn is None:
        return None
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetch_arrow_table()
    except Exception as exc:  # noqa: BLE001 - e.g. a column the driver could not type: read it the other way
        log.debug("ledger: the Arrow read failed (%s); reading rows through the DBAPI", type(exc).__name__)
        return None
    finally:
        conn.close()


def _read_rows(engine: Engine, sql: str, params: tuple[str, str]) -> list[Any]:
    # The DBAPI cursor directly: millions of rows through SQLAlchemy's Row objects cost ~8x more.
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql.replace(":d", mark).replace(":k", mark), params)
        rows = cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
    return rows  # type: ignore[return-value]


def _insert(engine: Engine) -> Any:
    return pg_insert(TABLE) if engine.dialect.name == "postgresql" else sqlite_insert(TABLE)


def record_acks(
    engine: Engine,
    district_id: str,
    entries: list[dict[str, Any]] | pd.DataFrame,
    run_id: str | None,
    *,
    now: dt.datetime | None = None,
    retry_max_days: int = DEFAULT_RETRY_MAX_DAYS,
) -> int:
    """Upsert SIS acknowledgements (and rejections) and their audit rows in ONE transaction.

    An entry: kind, assessment_id, student_id, sourced_id, payload_hash, status (acked|rejected),
    http_status, sis_code, sis_message, grading_period_id; optionally ``action`` (create|update|
    delete), ``sent`` (the audited values written, ``audit.values_of``), ``kept`` ({field: the SIS's
    value kept by a merged update}) and ``request_id``.  An acknowledged delete removes the ledger
    row.  A refusal schedules the item's next try (``plan.refusal_wait_days``); ``now`` is the run's
    clock (simulated nights in tests)."""
    rows = entries.to_dict("records") if isinstance(entries, pd.DataFrame) else list(entries)
    if not rows:
        return 0
    at = now or utcnow()
    with engine.begin() as conn:
        previous = _previous(conn, district_id, [r for r in rows if r.get("action") != "create"])
        upserts, deleted, audit_rows = [], [], []
        for r in rows:
            key = (r["kind"], str(r["assessment_id"]), str(r.get("student_id") or ""))
            prev = previous.get(key)
            ok = r["status"] in ("acked", "deleted")  # "deleted": an acknowledged DELETE (sync.deletes)
            after = audit.encode(r["sent"]) if r.get("sent") is not None else None
            before = prev["sent"] if prev is not None else None
            message = (r.get("sis_message") or None) and str(r["sis_message"])[:1000]
            if r.get("action") == "delete":
                action = "delete"
                if ok:
                    deleted.append(key)
            else:
                action = (
                    ("create" if r.get("http_status") == 201 else "update")
                    if ok
                    else ("update" if before else "create")
                )
                upserts.append(_ledger_values(district_id, r, run_id, at, prev, after, message, retry_max_days))
            audit_rows.append(
                audit.AuditRow(
                    kind=key[0],
                    assessment_id=key[1],
                    student_id=key[2],
                    action=action,
                    sis_status=r.get("http_status"),
                    before=before,
                    after=after if action != "delete" else None,
                    kept=json.dumps(r["kept"], separators=(",", ":")) if r.get("kept") else None,
                    message=None if ok else message,
                    request_id=r.get("request_id"),
                )
            )
        if upserts:
            stmt = _insert(engine)
            stmt = stmt.on_conflict_do_update(index_elements=KEY, set_={c: stmt.excluded[c] for c in UPSERTED})
            conn.execute(stmt, upserts)
        for kind, assessment_id, student_id in deleted:
            conn.execute(
                delete(TABLE).where(
                    TABLE.c.district_id == district_id,
                    TABLE.c.kind == kind,
                    TABLE.c.assessment_id == assessment_id,
                    TABLE.c.student_id == student_id,
                )
            )
        audit.write_batch(conn, district_id, run_id or rows[0].get("run_id"), at, audit_rows)
    return len(rows)


UPSERTED = (
    "sourced_id",
    "payload_hash",
    "status",
    "http_status",
    "sis_code",
    "sis_message",
    "grading_period_id",
    "run_id",
    "updated_at",
    "sent",
    "refusals",
    "refused_since",
    "retry_at",
    "sent_score",
)
PREVIOUS_CHUNK = 2_000


def _ledger_values(
    district_id: str,
    r: dict[str, Any],
    run_id: str | None,
    at: dt.datetime,
    prev: dict[str, Any] | None,
    after: str | None,
    message: str | None,
    retry_max_days: int,
) -> dict[str, Any]:
    ok = r["status"] == "acked"
    refused_before = int(prev["refusals"] or 0) if prev is not None and prev["status"] == "rejected" else 0
    refusals = 0 if ok else refused_before + 1
    return {
        "district_id": district_id,
        "kind": r["kind"],
        "assessment_id": str(r["assessment_id"]),
        "student_id": str(r.get("student_id") or ""),
        "sourced_id": r["sourced_id"],
        "payload_hash": int(r["payload_hash"]),
        "status": r["status"],
        "http_status": r.get("http_status"),
        "sis_code": r.get("sis_code"),
        "sis_message": message,
        "grading_period_id": r.get("grading_period_id"),
        "run_id": run_id or r.get("run_id"),
        "updated_at": at,
        # what the SIS holds from passback: a refusal leaves the last acknowledged values
        "sent": after if ok else (prev["sent"] if prev is not None else None),
        "refusals": refusals,
        "refused_since": None if ok else ((prev["refused_since"] if refused_before else None) or at),  # type: ignore[index]
        "retry_at": 0 if ok or r.get("period_closed") else next_try_epoch(at, refusals, retry_max_days),
        "sent_score": _score(r.get("sent_score")) if ok else None,  # results: guards' "scores that go down"
    }


def _previous(conn: Any, district_id: str, rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The ledger rows of these entries as they are before this batch (for "before" values and refusal counts)."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        by_kind.setdefault(r["kind"], []).append((str(r["assessment_id"]), str(r.get("student_id") or "")))
    cols = [
        TABLE.c.kind,
        TABLE.c.assessment_id,
        TABLE.c.student_id,
        TABLE.c.sent,
        TABLE.c.status,
        TABLE.c.refusals,
        TABLE.c.refused_since,
    ]
    for kind, keys in by_kind.items():
        for start in range(0, len(keys), PREVIOUS_CHUNK):
            chunk = keys[start : start + PREVIOUS_CHUNK]
            stmt = select(*cols).where(
                TABLE.c.district_id == district_id,
                TABLE.c.kind == kind,
                tuple_(TABLE.c.assessment_id, TABLE.c.student_id).in_(chunk),
            )
            for row in conn.execute(stmt).mappings():
                out[(row["kind"], row["assessment_id"], row["student_id"])] = dict(row)
    return out


def next_try_epoch(at: dt.datetime, refusals: int, max_days: int) -> int:
    """When a refused item is tried again: ``plan.refusal_wait_days`` nights after ``at`` (a few
    hours early, so the same time of a later night is past it)."""
    days = refusal_wait_days(refusals, max_days)
    if days is None:
        return NEVER
    return epoch_seconds(at) + days * 86_400 - RETRY_SLACK_S


def epoch_seconds(at: dt.datetime) -> int:
    """Seconds since 1970 of a naive UTC time (the state DB's times) or an aware one."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return int(aware.timestamp())


def last_sent(engine: Engine, district_id: str, kind: str, assessment_ids: list[str]) -> dict[str, list[Any] | None]:
    """The audited values the SIS last acknowledged, per assessment id (lineItems: the merge's base)."""
    out: dict[str, list[Any] | None] = {}
    with engine.connect() as conn:
        for start in range(0, len(assessment_ids), PREVIOUS_CHUNK):
            chunk = assessment_ids[start : start + PREVIOUS_CHUNK]
            stmt = select(TABLE.c.assessment_id, TABLE.c.sent).where(
                TABLE.c.district_id == district_id,
                TABLE.c.kind == kind,
                TABLE.c.assessment_id.in_(chunk),
                TABLE.c.student_id == "",
            )
            for aid, sent in conn.execute(stmt):
                out[aid] = audit.decode(sent)
    return out


def ledger_of_assessments(engine: Engine, district_id: str, assessment_ids: list[str]) -> pd.DataFrame:
    """Every ledger row (both kinds) of the given assessments: ``kind``, ``assessment_id``,
    ``student_id``, ``sourced_id``, ``status``, ``grading_period_id`` (a few assessments, not the whole ledger)."""
    cols = [
        TABLE.c.kind,
        TABLE.c.assessment_id,
        TABLE.c.student_id,
        TABLE.c.sourced_id,
        TABLE.c.status,
        TABLE.c.grading_period_id,
    ]
    rows: list[Any] = []
    with engine.connect() as conn:
        for start in range(0, len(assessment_ids), 500):
            chunk = [str(a) for a in assessment_ids[start : start + 500]]
            stmt = select(*cols).where(TABLE.c.district_id == district_id, TABLE.c.assessment_id.in_(chunk))
            rows.extend(tuple(r) for r in conn.execute(stmt))
    return pd.DataFrame.from_records(rows, columns=[c.name for c in cols])


def _score(value: Any) -> float | None:
    """The score an acknowledged result holds (None for lineItems, rejections and unknown values)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN -> None


def ledger_counts(engine: Engine, district_id: str) -> dict[str, dict[str, int]]:
    sql = text("SELECT kind, status, COUNT(*) FROM ledger_entry WHERE district_id = :d GROUP BY kind, status")
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for kind, status, n in conn.execute(sql, {"d": district_id}):
            out.setdefault(kind, {})[status] = int(n)
    return out


def ledger_for_assessment(engine: Engine, district_id: str, assessment_id: str) -> list[dict[str, Any]]:
    stmt = select(TABLE).where(TABLE.c.district_id == district_id, TABLE.c.assessment_id == assessment_id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def delete_entries(engine: Engine, district_id: str, kind: str, assessment_ids: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(TABLE).where(
                TABLE.c.district_id == district_id, TABLE.c.kind == kind, TABLE.c.assessment_id.in_(assessment_ids)
            )
        )
