"""Scenario 1 — crash anywhere: a district sync is SIGKILLed at a random moment, then rerun.

The sync runs in its own process through the library path (``python -m tests.reliability._world
sync``, which calls ``passback.sync.district.sync_district`` with a fixed ``utc_now``): the CLI
(``passback sync``) would spend ~12 s starting Prefect's ephemeral server per trial and uses the
wall clock, which the generated world's "today" must match.  The simulator runs in another
process with a file DB (``SimulatorProcess``), so the gradebook survives the kill.

CI uses the ``XS`` preset (one class, ~230 writes) with a batch size of 20 so that a run is
~12 ledger transactions; three trials kill at a write count drawn from each third of the run.
The long version (preset M, >= 20 trials, kill points uniform over the run, some before the first
write) is ``python bench/reliability.py crash --trials 20 --preset M``.

After each trial the rerun (in this process) must complete and the SIS must hold exactly the
clean run's gradebook (lineItems and results compared by sourcedId and content, timestamps
ignored), no duplicate lineItems, the ledger must agree with the SIS (every acked row is in the
SIS with the payload it hashes; every SIS object has an acked row), and the writes sent twice
(stored writes of both runs minus the clean run's) must be at most one batch plus the client's
concurrency in flight.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.reliability import _world as W

BATCH = 20
CONCURRENCY = 4


def test_sigkill_at_random_moments_then_rerun_converges(home: Path, tmp_path: Path) -> None:
    with W.testbed(home, "XS", register_overrides={"batch_size": BATCH, "concurrency": CONCURRENCY}) as bed:
        d = bed.district_id
        clean = W.run_inprocess(d, bed.utc_now)
        assert clean.status == "completed", clean.error
        clean_writes = bed.sis.stored_writes(d)
        reference = bed.snapshot()
        assert clean_writes == len(reference) == clean.writes > 10 * BATCH  # a run of many ledger transactions
        assert W.ledger_problems(d, bed.sis.state(d)) == []  # the check holds on a clean run
        assert bed.sis.state(d, objects=False)["duplicate_line_items"] == 0  # so any later one is an extra copy

        rng = random.Random(20261118)
        trials = []
        for i in range(3):  # one kill point in each third of the run
            lo, hi = i * clean_writes // 3, (i + 1) * clean_writes // 3 - BATCH
            trials.append(
                W.crash_trial(
                    bed,
                    reference,
                    clean_writes,
                    kill_writes=rng.randint(max(lo, 1), hi),
                    kill_after_s=None,
                    workdir=tmp_path,
                    name=f"trial{i}",
                )
            )

    keys = ("kill", "writes_before_kill", "ledger_rows_after_kill", "rerun_writes", "resent")
    print([{k: t[k] for k in keys} for t in trials])
    for i, t in enumerate(trials):
        assert t["kill"]["killed"] and t["returncode"] == -9, (i, t)
        assert 0 < t["writes_before_kill"] < clean_writes, (i, t)
        assert t["rerun_status"] == "completed", (i, t["rerun_error"])
        assert t["gradebook_diff"] == [], (i, t["gradebook_diff"])
        assert t["duplicate_line_items"] == 0, (i, t)
        assert t["ledger_problems"] == [], (i, t["ledger_problems"])
        assert t["rerun_writes"] == clean_writes - t["ledger_rows_after_kill"], (i, t)  # exactly what the ledger lacks
        assert 0 <= t["resent"] <= BATCH + CONCURRENCY, (i, t)
