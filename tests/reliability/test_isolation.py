"""Scenario 10 — isolation: two districts, each registered at its own simulator process, synced
concurrently in one process (as the nightly flow runs its district subflows: one event loop).

Both simulators are seeded with BOTH tenants, so a request misrouted to the wrong host would be
served and show up in that host's request log rather than vanish as an unknown tenant.  From each
simulator's log (``/admin/requests``) and gradebook:
* every request names the district's own tenant in its path, and every token request presents
  the district's own client id;
* every API request carries a bearer token this simulator issued, to this district's client, for
  this tenant (a token from the other host would be unknown here: ``client_id`` None);
* the other district's tenant on this host has an empty gradebook, and this district's gradebook
  holds only objects its own ledger acknowledged under its own sourcedIds.
The simulators inject 5 % 5xx and 3 s tokens, so retries and token renewals run concurrently in
both districts.  CI world: the ``demo`` preset with two districts (``demo``, ``demo-2``).
The long version (``python bench/reliability.py isolation --trials N --preset S``) runs bigger
worlds.
"""

from __future__ import annotations

from pathlib import Path

from passback.simulator.faults import FaultConfig
from passback.simulator.server import SimulatorProcess
from tests.reliability import _world as W

FAULTS = FaultConfig(error_rate=0.05, token_lifetime_s=3.0, seed=5)


def test_two_districts_two_hosts_nothing_crosses(home: Path) -> None:
    world = W.build_world("demo", districts=2, prefix="demo")
    a, b = world.seeds
    scenario = W.write_sources(world, home)
    with (
        SimulatorProcess(scenario, db_path=str(home / "sim-a.db"), faults=FAULTS) as sim_a,
        SimulatorProcess(scenario, db_path=str(home / "sim-b.db"), faults=FAULTS) as sim_b,
    ):
        W.register(world, {a.district_id: sim_a.url, b.district_id: sim_b.url})
        out = W.isolation_run(world, {a.district_id: W.Sis(sim_a.url), b.district_id: W.Sis(sim_b.url)})

    for summary in out["summaries"]:
        assert summary["status"] == "completed" and summary["writes"] > 0, summary
    for seed, summary in zip((a, b), out["summaries"], strict=True):
        host = out["hosts"][seed.district_id]
        stats = host["stats"]  # the faults ran on this host (a 3 s token renews only when the run outlasts it)
        assert stats["server_errors_5xx"] > 0 and stats["token_requests"].get("200", 0) >= 1, stats
        assert host["leaks"] == [], host["leaks"]
        assert all(c == {"lineItems": 0, "results": 0} for c in host["cross_counts"].values()), host["cross_counts"]
        assert host["ledger_problems"] == []
        assert host["objects"] == summary["writes"]
