"""Run history: one row per district run, with the summary's counts."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from passback.redaction import scrub, secret_forms
from passback.store.db import session
from passback.store.models import District, Run, utcnow
from passback.store.secrets import decrypt_secret


def start_run(engine: Engine, district_id: str, kind: str, flow_run_id: str | None = None) -> str:
    run_id = str(uuid.uuid4())
    with session(engine) as s:
        s.add(Run(id=run_id, district_id=district_id, kind=kind, flow_run_id=flow_run_id))
    return run_id


def abandon_running(engine: Engine, district_id: str) -> int:
    """Close the runs still marked running: called by the run that now holds the district's lock, so
    they died without finishing (killed, crashed).  Their acknowledged writes are in the ledger."""
    with session(engine) as s:
        stale = s.exec(select(Run).where(Run.district_id == district_id, Run.status == "running")).all()
        for run in stale:
            run.status, run.finished_at = "abandoned", utcnow()
            run.error = "the process ended before the run finished (killed or crashed); the next run resumed it"
            s.add(run)
    return len(stale)


def finish_run(
    engine: Engine,
    run_id: str,
    status: str,
    counts: dict[str, Any] | None,
    error: str | None,
    data_docs: str | None = None,
) -> None:
    with session(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            return
        secrets = _district_secrets(s, run.district_id)  # defence in depth: errors are redacted before this
        run.status = status
        run.finished_at = utcnow()
        run.counts = scrub(json.dumps(counts, default=str), secrets) if counts is not None else None
        run.error = scrub(error, secrets) if error else error
        run.data_docs = data_docs
        s.add(run)


def _district_secrets(s: Any, district_id: str) -> list[str]:
    """Every form of the district's client secret (none when it cannot be read)."""
    district = s.get(District, district_id)
    if district is None:
        return []
    try:
        secret = decrypt_secret(district.secret_ciphertext).get_secret_value()
    except Exception:  # noqa: BLE001 - a key problem is reported elsewhere; nothing to scrub with
        return []
    return secret_forms(secret, district.client_id)


def recent_runs(engine: Engine, district_id: str, n: int = 10) -> list[Run]:
    with session(engine) as s:
        stmt = select(Run).where(col(Run.district_id) == district_id).order_by(col(Run.started_at).desc()).limit(n)
        return list(s.exec(stmt).all())


def last_successful_run(engine: Engine, district_id: str) -> Run | None:
    with session(engine) as s:
        stmt = (
            select(Run)
            .where(Run.district_id == district_id, col(Run.status).in_(["completed", "partial"]))
            .order_by(col(Run.started_at).desc())
            .limit(1)
        )
        return s.exec(stmt).first()


def run_of_flow_run(engine: Engine, district_id: str, flow_run_id: str) -> Run | None:
    """The district's run recorded by one Prefect flow run (None when that flow run recorded none)."""
    with session(engine) as s:
        stmt = (
            select(Run)
            .where(Run.district_id == district_id, Run.flow_run_id == flow_run_id)
            .order_by(col(Run.started_at).desc())
            .limit(1)
        )
        return s.exec(stmt).first()


def get_run(engine: Engine, run_id: str) -> Run | None:
    with session(engine) as s:
        return s.get(Run, run_id)


def find_run(engine: Engine, district_id: str, run_id: str | None) -> Run | None:
    """One run of the district by id (a unique prefix is enough), or its latest run with a report."""
    with session(engine) as s:
        stmt = select(Run).where(Run.district_id == district_id)
        if run_id:
            stmt = stmt.where(Run.id.startswith(run_id))
        else:
            stmt = stmt.where(col(Run.data_docs).is_not(None))
        found = list(s.exec(stmt.order_by(col(Run.started_at).desc()).limit(2)).all())
    if run_id and len(found) > 1:
        raise ValueError(
            f"run id {run_id!r} of district {district_id} is ambiguous: give more characters (see `passback runs {district_id}`)"
        )
    return found[0] if found else None
