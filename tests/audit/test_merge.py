"""An update keeps the teacher's edits: the three-way merge before a lineItem update."""

from __future__ import annotations

import json

from passback.domain.payloads import line_item_id
from passback.sync.merge import apply_kept, merge
from tests.audit.helpers import teacher_put
from tests.factory import World
from tests.toolkit import Sis, cli, rewrite_source, run_sync


def line_item(sis: Sis, sourced_id: str) -> dict:
    return next(li for li in sis.state()["lineItems"] if li["sourcedId"] == sourced_id)


BASE = ["Quiz", "2026-11-02", "2026-11-09", "cat-quiz", 10]


def test_merge_sends_what_otus_changed_and_keeps_what_only_the_sis_changed() -> None:
    desired = ["Quiz v2", "2026-11-02", "2026-11-09", "cat-quiz", 10]
    sis = ["Quiz", "2026-11-02", "2026-11-10", "cat-test", 10]
    assert merge(BASE, desired, sis) == {"due_date": "2026-11-10", "category": "cat-test"}
    # both changed one field: Otus's change is sent (it is newer than passback's last send)
    assert merge(BASE, ["Quiz", "2026-11-02", "2026-11-09", "cat-hw", 10], sis) == {"due_date": "2026-11-10"}
    assert merge(None, desired, sis) == {} and merge(BASE, desired, None) == {}
    body = apply_kept(
        {"lineItem": {"title": "Quiz v2", "dueDate": "2026-11-09T00:00:00Z", "category": None}},
        {"due_date": "2026-11-10", "category": "cat-test"},
    )
    assert body["lineItem"]["dueDate"] == "2026-11-10T00:00:00Z"
    assert body["lineItem"]["category"]["sourcedId"] == "cat-test" and body["lineItem"]["title"] == "Quiz v2"


def test_a_category_changed_by_a_teacher_in_the_sis_stays_when_otus_retitles(sis: Sis, factory_world: World) -> None:
    w = factory_world
    assert run_sync().status == "completed"
    sid = line_item_id("d1", "a-1")
    assert line_item(sis, sid)["category"]["sourcedId"] == "cat-quiz"
    teacher_put(
        sis,
        "lineItems",
        sid,
        "lineItem",
        {"category": {"href": "/categories/cat-test", "sourcedId": "cat-test", "type": "category"}},
    )

    w.assessments.loc[w.assessments["id"] == "a-1", "title"] = "Fractions quiz v2"
    rewrite_source(w)
    retitled = run_sync()
    assert retitled.status == "completed" and retitled.writes == 1, retitled.error
    held = line_item(sis, sid)
    assert held["title"] == "Fractions quiz v2"
    assert held["category"]["sourcedId"] == "cat-test", "the teacher's category was reverted"

    timeline = json.loads(cli("history", "d1", "a-1", "--json").out)
    update = [e for e in timeline if e["kind"] == "lineItem"][-1]
    assert update["action"] == "update" and update["changes"] == {"title": ["Fractions quiz", "Fractions quiz v2"]}
    assert update["kept"] == {"category": "cat-test"}
    assert run_sync().writes == 0  # the ledger holds passback's intent: nothing to send again

    w.assessments.loc[w.assessments["id"] == "a-1", "title"] = "Fractions quiz v3"  # and again: still kept
    rewrite_source(w)
    assert run_sync().writes == 1
    assert line_item(sis, sid)["category"]["sourcedId"] == "cat-test"
