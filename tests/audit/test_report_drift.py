"""The district's run report mentions drift per item: after a reconcile found a teacher's edit and a
deletion in the SIS, the next run's page lists exactly those items with what was found and when;
once a restore re-sent the deleted item, only the edit (which stands) is listed."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

from passback.domain.payloads import line_item_id, result_id
from passback.sync.district import RunOptions, sync_district
from tests.audit.helpers import teacher_delete, teacher_put
from tests.toolkit import UTC_NOW, Sis, cli


def run_with_report() -> str:
    summary = asyncio.run(sync_district("d1", RunOptions(utc_now=UTC_NOW, build_docs=True)))
    assert summary.status == "completed", summary.error
    assert summary.data_docs and Path(summary.data_docs).exists(), summary.data_docs
    return html.unescape(Path(summary.data_docs).read_text())


def drift_rows(page: str) -> list[str]:
    return [row.split("</tr>")[0] for row in page.split('<tr class="drift">')[1:]]


def test_the_run_report_lists_the_drift_reconcile_found_per_item(sis: Sis) -> None:
    first = run_with_report()
    assert "Drift found in the SIS" not in first  # nothing found yet: no section
    teacher_put(sis, "results", result_id("d1", "a-1", "u-s1"), "result", {"score": 9.5})
    teacher_delete(sis, "lineItems", line_item_id("d1", "a-2"))  # and its two results
    assert cli("reconcile", "d1", "--json").code == 0

    page = run_with_report()
    assert "Drift found in the SIS" in page and "4 item(s)" in page
    rows = drift_rows(page)
    assert len(rows) == 4
    edited = [r for r in rows if "edited in sis" in r]
    assert len(edited) == 1
    assert "<td>a-1</td><td>u-s1</td>" in edited[0]
    assert "score: passback sent 7, the SIS holds 9.5" in edited[0]
    deleted = sorted(r.split("<td>")[2:5] for r in rows if "deleted in sis" in r)
    assert [[c.split("</td>")[0] for c in r] for r in deleted] == [
        ["lineItem", "a-2", "—"],
        ["result", "a-2", "u-s1"],
        ["result", "a-2", "u-s2"],
    ]
    assert all(r.split("<td>")[1][:4].isdigit() for r in rows)  # when it was found

    assert cli("reconcile", "d1", "--restore", "--json").code == 0  # re-sends the deleted items
    after = drift_rows(run_with_report())
    assert len(after) == 1 and "score: passback sent 7, the SIS holds 9.5" in after[0]
