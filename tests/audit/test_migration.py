"""0007_audit_compact converts audit rows written under 0006 (ids as text) to the compact form
(ids by integer through ``audit_name``) and back, on SQLite and PostgreSQL: `history` answers the
same before and after, and the downgrade restores the rows as they were."""

from __future__ import annotations

import datetime as dt
import uuid

from alembic import command
from sqlalchemy import text

from passback.store import audit
from passback.store.migrate import config, upgrade
from tests.statedb import fresh_engine

AID = str(uuid.UUID(int=15))  # Otus ids are UUIDs in real life
SID = "HD1-student.7"


def _old_rows(batches: list[int]) -> list[dict[str, object]]:
    one, two, three = (b << audit.BATCH_SHIFT for b in batches)
    return [
        {"id": one, "kind": "L", "a": AID, "s": "", "action": "c", "st": 201, "before": None, "after": '["Quiz"]'},
        {"id": one + 1, "kind": "R", "a": AID, "s": SID, "action": "c", "st": 201, "before": None, "after": "[7]"},
        {"id": two, "kind": "R", "a": AID, "s": SID, "action": "u", "st": 200, "before": "[7]", "after": "[8.5]"},
        {"id": three, "kind": "R", "a": "other", "s": SID, "action": "e", "st": None, "before": "[1]", "after": "[2]"},
    ]


def test_0007_converts_existing_audit_rows_and_history_still_answers(state_url: str) -> None:
    engine = fresh_engine(state_url, "0006_audit")
    at = dt.datetime(2026, 11, 2, 3, 0)
    with engine.begin() as conn:
        batches = [
            int(
                conn.execute(
                    text("INSERT INTO audit_batch (district_id, run_id, at) VALUES ('d1', :r, :at) RETURNING id"),
                    {"r": f"run-{n}", "at": at + dt.timedelta(days=n)},
                ).scalar_one()
            )
            for n in (1, 2, 3)
        ]
        conn.execute(
            text(
                "INSERT INTO audit_entry (id, kind, assessment_id, student_id, action, sis_status, before, after) "
                "VALUES (:id, :kind, :a, :s, :action, :st, :before, :after)"
            ),
            _old_rows(batches),
        )
    before_rows = _old_snapshot(engine)

    upgrade(engine)
    timeline = audit.history(engine, "d1", AID)
    assert [(e["kind"], e["student_id"], e["action"], e["run_id"]) for e in timeline] == [
        ("lineItem", None, "create", "run-1"),
        ("result", SID, "create", "run-1"),
        ("result", SID, "update", "run-2"),
    ]
    assert timeline[2]["changes"] == {"score": [7, 8.5]} and timeline[2]["sis_status"] == 200
    assert [e["action"] for e in audit.history(engine, "d1", AID, SID)] == ["create", "create", "update"]
    assert [e["action"] for e in audit.history(engine, "d1", "other")] == ["edited_in_sis"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_name")).scalar_one() == 4  # AID, other, SID, ""

    # new writes after the upgrade reuse the names
    with engine.begin() as conn:
        audit.write_batch(
            conn, "d1", "run-4", at + dt.timedelta(days=4), [audit.AuditRow("result", AID, SID, "update")]
        )
    assert len(audit.history(engine, "d1", AID, SID)) == 4
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_name")).scalar_one() == 4

    command.downgrade(config(engine), "0006_audit")
    assert _old_snapshot(engine)[: len(before_rows)] == before_rows
    engine.dispose()


def _old_snapshot(engine: object) -> list[tuple[object, ...]]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT id, kind, assessment_id, student_id, action, sis_status, before, after "
                    "FROM audit_entry ORDER BY id"
                )
            ).fetchall()
        ]
