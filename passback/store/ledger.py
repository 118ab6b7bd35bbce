"""The ledger: what the SIS acknowledged, per lineItem and result.  The hot path: read whole for a
district (millions of rows) and upserted one batch per transaction."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from passback.store.models import LedgerEntry, utcnow

TABLE = LedgerEntry.__table__
KEY = ["district_id", "kind", "assessment_id", "student_id"]
DEFAULT_COLUMNS = ["assessment_id", "student_id", "payload_hash", "status"]
ALL_COLUMNS = [c.name for c in TABLE.columns]


def read_ledger(engine: Engine, district_id: str, kind: str, *, columns: list[str] | None = None) -> pd.DataFrame:
    """The district's ledger rows of one kind as a frame (payload_hash int64, text as ``str``)."""
    cols = columns or DEFAULT_COLUMNS
    unknown = set(cols) - set(ALL_COLUMNS)
    if unknown:
        raise ValueError(f"unknown ledger columns: {sorted(unknown)}")
    sql = f"SELECT {', '.join(cols)} FROM ledger_entry WHERE district_id = :d AND kind = :k"  # noqa: S608 - names checked above
    # The DBAPI cursor directly: millions of rows through SQLAlchemy's Row objects cost ~8x more.
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql.replace(":d", mark).replace(":k", mark), (district_id, kind))
        rows = cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
    frame = pd.DataFrame.from_records(rows, columns=cols)
    for col in cols:
        if col == "payload_hash":
            frame[col] = frame[col].astype("int64")
        elif col in ("http_status", "sent_score"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        elif col != "updated_at":
            frame[col] = frame[col].astype("str")
    return frame


def _insert(engine: Engine) -> Any:
    return pg_insert(TABLE) if engine.dialect.name == "postgresql" else sqlite_insert(TABLE)


def record_acks(engine: Engine, district_id: str, entries: list[dict[str, Any]] | pd.DataFrame, run_id: str | None) -> int:
    """Upsert SIS acknowledgements (and rejections) in ONE transaction."""
    rows = entries.to_dict("records") if isinstance(entries, pd.DataFrame) else list(entries)
    if not rows:
        return 0
    now = utcnow()
    values = [{
        "district_id": district_id, "kind": r["kind"], "assessment_id": str(r["assessment_id"]),
        "student_id": str(r.get("student_id") or ""), "sourced_id": r["sourced_id"],
        "payload_hash": int(r["payload_hash"]), "status": r["status"], "http_status": r.get("http_status"),
        "sis_code": r.get("sis_code"), "sis_message": (r.get("sis_message") or None) and str(r["sis_message"])[:1000],
        "grading_period_id": r.get("grading_period_id"), "run_id": run_id or r.get("run_id"), "updated_at": now,
        "sent_score": _score(r.get("sent_score")),
    } for r in rows]
    stmt = _insert(engine)
    stmt = stmt.on_conflict_do_update(
        index_elements=KEY,
        set_={c: stmt.excluded[c] for c in ("sourced_id", "payload_hash", "status", "http_status", "sis_code",
                                           "sis_message", "grading_period_id", "run_id", "updated_at", "sent_score")},
    )
    with engine.begin() as conn:
        conn.execute(stmt, values)
    return len(values)


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
        conn.execute(delete(TABLE).where(TABLE.c.district_id == district_id, TABLE.c.kind == kind,
                                         TABLE.c.assessment_id.in_(assessment_ids)))
