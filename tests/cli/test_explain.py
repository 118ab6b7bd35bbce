"""`passback explain` (why each row did or did not pass back) and `passback runs` after a real sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.toolkit import cli, register, rewrite_source, run_sync, running_sis, s2_not_enrolled, small_world


def explain(assessment_id: str) -> dict[str, Any]:
    ran = cli("explain", "d1", assessment_id, "--json")
    assert ran.code == 0, ran.err
    return dict(json.loads(ran.out))


def by_student(ex: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["student_id"]: s for s in ex["scores"]}


def test_explain_says_sent_unchanged_rejected_with_the_sis_message_pending_or_why_not(home: Path) -> None:
    w = small_world()
    with running_sis(w, s2_not_enrolled) as sis:
        register("d1", sis.url)
        first = run_sync()  # the library run (no Prefect): sends a-1, a-2; the SIS refuses u-s2's results
        assert (first.line_items["created"], first.results["created"], first.results["rejected"]) == (2, 2, 2)

        scores = w.scores
        scores.loc[(scores["assessment_id"] == "a-1") & (scores["student_id"] == "u-s1"), "points_earned"] = 8.0
        scores.loc[(scores["assessment_id"] == "a-2") & (scores["student_id"] == "u-s1"), "state"] = "turned_in"
        rewrite_source(w)

        a1 = explain("a-1")
        assert (a1["title"], a1["status"], a1["reason"]) == ("Fractions quiz", "sent (unchanged since)", None)
        s = by_student(a1)
        assert s["u-s1"]["status"].startswith("pending") and s["u-s1"]["points_earned"] == 8.0  # changed since sent
        assert s["u-s2"]["status"] == "rejected" and "skyward.student_not_enrolled" in s["u-s2"]["message"]

        a2 = by_student(explain("a-2"))
        assert (a2["u-s1"]["status"], a2["u-s1"]["reason"]) == ("pending", "not_yet_graded")

        a3 = explain("a-3")
        assert (a3["status"], a3["reason"]) == ("not sent", "assigner_not_in_group")
        assert {s["reason"] for s in a3["scores"]} == {"assessment_ineligible"}

        text = cli("explain", "d1", "a-1")
        assert text.code == 0
        assert "“Fractions quiz”: sent (unchanged since)" in text.out
        row = next(line for line in text.out.splitlines() if "u-s2" in line)
        assert "rejected" in row and "enrolled" in row

    history = cli("runs", "d1")
    assert history.code == 0
    rows = [line for line in history.out.splitlines() if line.startswith("│ d1")]
    assert (
        len(rows) == 1 and "completed" in rows[0] and "sync" in rows[0] and "│ 6 " in rows[0]
    )  # 2 lineItems + 4 results sent (2 refused)
    assert cli("runs").out == history.out  # all districts: the only one
