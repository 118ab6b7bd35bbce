"""The audit trail: every write the SIS answered, with before → after values, its run and its answer;
``passback history``; retention."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text

from passback.settings import get_settings
from passback.store import audit, ledger
from passback.store.db import get_engine
from tests.factory import World
from tests.toolkit import Sis, cli, rewrite_source, run_sync


def _engine():
    return get_engine(get_settings().state_db_url)


def test_history_after_create_rescore_retitle_lists_the_writes_with_before_after_and_runs(
    sis: Sis, factory_world: World
) -> None:
    w = factory_world
    created = run_sync()
    assert created.status == "completed" and created.writes == 6, created.error
    w.scores.loc[(w.scores["assessment_id"] == "a-1") & (w.scores["student_id"] == "u-s1"), "points_earned"] = 8.0
    rewrite_source(w)
    rescored = run_sync()
    assert rescored.writes == 1, rescored.error
    w.assessments.loc[w.assessments["id"] == "a-1", "title"] = "Fractions quiz v2"
    rewrite_source(w)
    retitled = run_sync()
    assert retitled.writes == 1, retitled.error

    ran = cli("history", "d1", "a-1", "--student", "u-s1", "--json")
    assert ran.code == 0, ran.err
    timeline = json.loads(ran.out)
    assert [(e["kind"], e["action"], e["student_id"]) for e in timeline] == [
        ("lineItem", "create", None),
        ("result", "create", "u-s1"),
        ("result", "update", "u-s1"),
        ("lineItem", "update", None),
    ]
    li_create, res_create, rescore, retitle = timeline
    assert li_create["changes"] == {
        "title": [None, "Fractions quiz"],
        "assign_date": [None, "2026-11-02"],
        "due_date": [None, "2026-11-09"],
        "category": [None, "cat-quiz"],
        "points_possible": [None, 10],
    }
    assert res_create["changes"] == {"score": [None, 7], "score_status": [None, "fully graded"], "comment": [None, ""]}
    assert rescore["changes"] == {"score": [7, 8]}
    assert retitle["changes"] == {"title": ["Fractions quiz", "Fractions quiz v2"]}
    assert [e["sis_status"] for e in timeline] == [201, 201, 200, 200]
    assert [e["run_id"] for e in timeline] == [created.run_id, created.run_id, rescored.run_id, retitled.run_id]
    for key in ("time", "run_id", "kind", "student_id", "action", "changes", "sis_status"):
        assert all(key in e for e in timeline)
    assert [e["time"] for e in timeline] == sorted(e["time"] for e in timeline)

    runs = cli("runs", "d1")  # the run ids the history names are the runs `passback runs` lists
    assert runs.code == 0, runs.err
    for run_id in {created.run_id, rescored.run_id, retitled.run_id}:
        assert run_id is not None and run_id[:8] in runs.out

    whole = json.loads(cli("history", "d1", "a-1", "--json").out)  # every student: both results, the lineItem
    assert len(whole) == 5 and {e["student_id"] for e in whole} == {None, "u-s1", "u-s2"}
    human = cli("history", "d1", "a-1", "--student", "u-s1")
    assert human.code == 0 and "score 7 → 8" in human.out and "Fractions quiz → Fractions quiz v2" in human.out
    assert created.run_id[:8] in human.out


def test_audit_and_ledger_hold_the_same_writes(sis: Sis) -> None:
    first = run_sync()
    assert first.status == "completed" and first.writes == 6
    engine = _engine()
    with engine.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT e.kind, na.name, ns.name FROM audit_entry e "
                "JOIN audit_name na ON na.id = e.assessment JOIN audit_name ns ON ns.id = e.student"
            )
        ).fetchall()
        held = conn.execute(text("SELECT kind, assessment_id, student_id, sent FROM ledger_entry")).fetchall()
    kinds = {"L": "lineItem", "R": "result"}
    assert sorted((kinds[k], a, s) for k, a, s in audited) == sorted((k, a, s) for k, a, s, _ in held)
    assert all(sent is not None for *_, sent in held)  # the "before" of every next write
    assert run_sync().writes == 0
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*) FROM audit_entry")).scalar_one() == 6
        )  # nothing written, nothing audited


def test_a_refused_write_is_audited_with_the_sis_status_and_message(sis: Sis, factory_world: World) -> None:
    sis.admin("POST", "tenants/d1/settings", json={"use_grade_when_posting": True})
    summary = run_sync()
    assert summary.results.get("rejected", 0) == 4
    rows = json.loads(cli("history", "d1", "a-1", "--student", "u-s2", "--json").out)
    refused = [r for r in rows if r["kind"] == "result"]
    assert len(refused) == 1 and refused[0]["sis_status"] == 422 and refused[0]["action"] == "create"
    assert "Use Grade When Posting" in refused[0]["message"]


def _batch(engine, at: dt.datetime, student: str) -> None:
    ledger.record_acks(
        engine,
        "d1",
        [
            dict(
                kind="result",
                assessment_id="a",
                student_id=student,
                sourced_id=f"x{student}",
                payload_hash=1,
                status="acked",
                action="create",
                sent=[1, "fully graded", ""],
                http_status=201,
            )
        ],
        "run-x",
        now=at,
    )


def test_retention_prunes_only_rows_older_than_the_setting(state_url: str) -> None:
    engine = get_engine(state_url)
    now = dt.datetime(2027, 3, 1, 12, 0)
    for days, student in ((500, "s-500"), (401, "s-401"), (399, "s-399"), (0, "s-0")):
        _batch(engine, now - dt.timedelta(days=days), student)
    removed = audit.prune(engine, "d1", older_than_days=400, now=now)
    assert removed == 2
    kept = [r["student_id"] for r in audit.history(engine, "d1", "a")]
    assert kept == ["s-399", "s-0"]
    assert len(ledger.read_ledger(engine, "d1", "result")) == 4  # the ledger is not the audit's to prune
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_batch")).scalar_one() == 2
    assert audit.prune(engine, "d1", older_than_days=400, now=now) == 0
