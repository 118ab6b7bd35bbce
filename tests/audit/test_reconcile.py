"""SIS drift: a result edited and a lineItem deleted in the SIS (by another client) are reported
exactly, nothing else; --restore re-creates the deleted one and its results and nothing else."""

from __future__ import annotations

import json

from passback.domain.payloads import line_item_id, result_id
from tests.audit.helpers import teacher_delete, teacher_put
from tests.toolkit import Sis, cli, run_sync


def test_reconcile_reports_a_teacher_edit_and_a_deletion_exactly_and_restore_recreates_only_the_deleted(
    sis: Sis,
) -> None:
    assert run_sync().writes == 6  # 2 lineItems (a-1, a-2) and 4 results
    edited = result_id("d1", "a-1", "u-s1")
    teacher_put(sis, "results", edited, "result", {"score": 9.5})
    gone = line_item_id("d1", "a-2")
    teacher_delete(sis, "lineItems", gone)  # its results go with it (the SIS's gradebook cascades)
    before = sis.state()["counts"]

    ran = cli("reconcile", "d1", "--json")
    assert ran.code == 0, ran.err
    drift = json.loads(ran.out)
    assert drift["edited_in_sis"] == [
        {
            "kind": "result",
            "sourced_id": edited,
            "assessment_id": "a-1",
            "student_id": "u-s1",
            "field": "score",
            "sent": 7,
            "sis": 9.5,
        }
    ]
    deleted = sorted((d["kind"], d["assessment_id"], d["student_id"]) for d in drift["deleted_in_sis"])
    assert deleted == [("lineItem", "a-2", None), ("result", "a-2", "u-s1"), ("result", "a-2", "u-s2")]
    assert drift["checked"] == 6
    assert sis.state()["counts"] == before  # reconcile changes nothing by default
    assert run_sync().writes == 0  # nor does the nightly: a teacher's deletion and edit stand

    human = cli("reconcile", "d1")
    assert human.code == 0 and "edited in the SIS" in human.out and "deleted in the SIS" in human.out

    restored = json.loads(cli("reconcile", "d1", "--json", "--restore").out)
    assert restored["restored"] == 3  # the lineItem and its two results; not the edited score
    results = {r["sourcedId"]: r for r in sis.state()["results"]}
    assert results[edited]["score"] == 9.5  # the teacher's edit stands
    assert {li["sourcedId"] for li in sis.state()["lineItems"]} >= {gone}
    assert run_sync().writes == 0
    again = json.loads(cli("reconcile", "d1", "--json").out)
    assert again["deleted_in_sis"] == [] and len(again["edited_in_sis"]) == 1

    timeline = json.loads(cli("history", "d1", "a-2", "--json").out)
    assert [e["action"] for e in timeline if e["kind"] == "lineItem"] == ["create", "deleted_in_sis", "create"]
    edits = [
        e
        for e in json.loads(cli("history", "d1", "a-1", "--student", "u-s1", "--json").out)
        if e["action"] == "edited_in_sis"
    ]
    assert edits and edits[0]["changes"] == {"score": [7, 9.5]}


def test_restore_goes_through_the_guards_a_held_restore_resends_nothing_until_approved(sis: Sis) -> None:
    assert run_sync().writes == 6
    gone = line_item_id("d1", "a-2")
    teacher_delete(sis, "lineItems", gone)  # the lineItem and its 2 results
    assert cli("district", "set", "d1", "--guard-writes", "0").code == 0  # any write is held
    before = sis.state()["counts"]

    held = cli("reconcile", "d1", "--restore")
    assert held.code == 3  # held, as `passback sync` says it
    assert "held by its guards" in held.err and "passback approve d1" in held.err, held.err
    assert sis.state()["counts"] == before  # nothing re-sent
    assert gone not in {li["sourcedId"] for li in sis.state()["lineItems"]}

    assert cli("approve", "d1", "--note", "restore the deleted assessment").code == 0
    assert run_sync().writes == 3  # exactly the approved plan: the lineItem and its two results
    assert gone in {li["sourcedId"] for li in sis.state()["lineItems"]}
