"""`passback sync` as scripts run it: one JSON document on stdout, exit status, dry run, reruns and
--retry-rejected.  The dry run is a child process (stdout exactly as a script sees it, Prefect's own
console output included); the runs after it go through ``cli()`` in this process (same command, same
document, without a new interpreter importing Prefect and GX for each)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.toolkit import Ran, Sis, cli, register, running_sis, s2_not_enrolled, small_world

OUTCOMES = {"created", "updated", "unchanged", "ineligible", "rejected", "failed"}


def document(ran: Ran) -> dict[str, dict[str, Any]]:
    """stdout must be exactly one JSON document (json.loads refuses trailing data)."""
    doc = json.loads(ran.out)
    assert set(doc) == {"districts"}
    out = {}
    for d in doc["districts"]:
        assert {"district", "status", "line_items", "results", "reasons", "error"} <= set(d)
        if d["status"] != "failed":
            assert set(d["line_items"]) >= OUTCOMES and set(d["results"]) >= OUTCOMES
            assert all(isinstance(k, str) and isinstance(v, int) for k, v in d["reasons"].items())
        out[d["district"]] = d
    return out


def ledger_rows(home: Path) -> int:
    with sqlite3.connect(home / "state.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM ledger_entry").fetchone()[0])


def puts(sis: Sis, tenant: str = "d1") -> dict[str, dict[str, int]]:
    stats = sis.stats()["tenants"].get(tenant, {})
    return {kind: dict(by_status) for kind, by_status in stats.get("puts", {}).items() if by_status}


def test_sync_json_dry_run_rerun_and_retry_rejected(home: Path, cli_process: Any) -> None:
    with running_sis(small_world(), s2_not_enrolled) as sis:
        register("d1", sis.url)
        register("d2", sis.url, tenant="d1", client_secret="wrong-secret-for-d2")  # fails: credentials rejected

        planned = cli_process("sync", "--dry-run", "--json")
        assert planned.code == 1, planned.err  # a district failed
        docs = document(planned)
        d1, d2 = docs["d1"], docs["d2"]
        assert d1["status"] == "planned" and d1["error"] is None
        assert (d1["line_items"]["created"], d1["results"]["created"]) == (2, 4)
        assert d1["reasons"]["assigner_not_in_group"] == 1 and d1["reasons"]["assessment_ineligible"] == 2
        assert d2["status"] == "failed" and "credentials rejected" in d2["error"]
        assert "passback district set d2 --client-secret" in d2["error"]
        assert "wrong-secret-for-d2" not in planned.out + planned.err
        assert planned.out.count("\n") == 1  # one document; Prefect's console logs stay out of stdout
        assert puts(sis) == {}  # the dry run wrote nothing
        assert ledger_rows(home) == 0

        assert cli("district", "set", "d2", "--disabled").code == 0

        first = cli("sync", "--json")  # every enabled district: d1
        assert first.code == 0, first.err
        d1 = document(first)["d1"]
        assert list(document(first)) == ["d1"] and d1["status"] == "completed"
        assert (d1["line_items"]["created"], d1["results"]["created"], d1["results"]["rejected"]) == (2, 2, 2)
        assert puts(sis) == {"lineItem": {"201": 2}, "result": {"201": 2, "422": 2}}
        assert len(sis.state()["results"]) == 2

        sis.admin("POST", "reset-stats")
        second = cli("sync", "--district", "d1", "--json")
        assert second.code == 0, second.err
        d1 = document(second)["d1"]
        assert d1["writes"] == 0 and (d1["line_items"]["unchanged"], d1["results"]["unchanged"]) == (2, 2)
        assert d1["results"]["rejected"] == 2  # held: rejected before with the same payload
        assert puts(sis) == {}  # the rerun wrote nothing

        retried = cli("sync", "--district", "d1", "--retry-rejected", "--json")
        assert retried.code == 0, retried.err
        d1 = document(retried)["d1"]
        assert (d1["results"]["rejected"], d1["results"]["unchanged"], d1["line_items"]["unchanged"]) == (2, 2, 2)
        assert puts(sis) == {"result": {"422": 2}}  # only the refused results were resent

    history = cli("runs", "d1")
    kinds = [line.split("│")[3].strip() for line in history.out.splitlines() if line.startswith("│ d1")]
    assert sorted(kinds) == ["dry_run", "sync", "sync", "sync"]
