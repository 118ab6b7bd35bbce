#!/usr/bin/env python
"""Where plan-L's time and memory go, stage by stage: ``python bench/stages.py [--preset L] [--pyinstrument]``.

Runs extract and evaluate (derive, GX, payloads, ledger read, diff) of a fully synced preset (the
cached home of ``bench/run.py``) without a simulator: the SIS snapshot comes from the scenario
file.  Prints, per stage, wall and CPU seconds, RSS at the end and the peak RSS during the stage
(sampled every 5 ms by a thread).  ``--pyinstrument`` also writes a text profile of the whole run
to ``bench/.cache/profile-<preset>.txt``; for memory by allocation site run it under memray:
``python -m memray run -o /tmp/plan.bin bench/stages.py`` then ``python -m memray stats /tmp/plan.bin``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class Sampler:
    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def stage(name: str, sampler: Sampler, rows: list[tuple[Any, ...]]) -> Iterator[None]:
    sampler.peak = rss_mb()
    w0, c0 = time.perf_counter(), time.process_time()
    yield
    rows.append((name, time.perf_counter() - w0, time.process_time() - c0, rss_mb(), max(sampler.peak, rss_mb())))


def snapshot_in_child(scenario: Path) -> Any:
    """The snapshot built in a child process: parsing the scenario (60k users) must not count here."""
    import pickle
    import subprocess

    code = (
        f"import pickle, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import stages as p; "
        f"sys.stdout.buffer.write(pickle.dumps(p.snapshot_of(__import__('pathlib').Path({str(scenario)!r}))))"
    )
    return pickle.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout)


def snapshot_of(scenario: Path) -> Any:
    from passback.domain.context import grading_period_frame
    from passback.scenario import Scenario
    from passback.sync.district import SisSnapshot

    sis = Scenario.load(scenario).districts[0]
    periods = [p for p in sis.academicSessions if p.type == "gradingPeriod"]
    return SisSnapshot(
        grading_periods=grading_period_frame(
            [
                {"sourced_id": p.sourcedId, "title": p.title, "start_date": p.startDate, "end_date": p.endDate}
                for p in periods
            ]
        ),
        categories=[],
        active_categories=frozenset(c.sourcedId for c in sis.categories if c.status == "active" and c.districtLevel),
        closed_periods=frozenset(p.sourcedId for p in periods if p.closed),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="L")
    parser.add_argument("--pyinstrument", action="store_true")
    args = parser.parse_args()
    data = bench.world_dir(args.preset)
    bench.use_home(
        bench.copy_home(bench.synced_home(args.preset), bench.CACHE / "runs" / "profile"), data / "otus.db", fresh=False
    )
    seed = bench.seeds_of(data)[0]
    import great_expectations  # noqa: F401 - a one-off import, not a per-district cost

    from passback.sync.district import DistrictRun, RunOptions

    profiler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    rows: list[tuple[Any, ...]] = []
    base = rss_mb()
    with Sampler() as sampler:
        run = DistrictRun(seed.district_id, RunOptions(build_docs=False))
        sis = snapshot_in_child(data / "scenario.json")
        with stage("extract", sampler, rows):
            source = run.extract()
        with stage("evaluate (ledger, validate, transform, diff)", sampler, rows):
            evaluation = run.evaluate(source, sis)
        del source
        with stage("(source freed)", sampler, rows):
            pass
    if profiler is not None:
        profiler.stop()
        out = bench.CACHE / f"profile-{args.preset}.txt"
        out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        print(f"pyinstrument profile: {out}")
    print(f"baseline RSS (imports): {base:.0f} MB")
    print(f"{'stage':48} {'wall s':>7} {'cpu s':>7} {'RSS MB':>8} {'peak MB':>8}")
    for name, wall, cpu, rss, peak in rows:
        print(f"{name:48} {wall:7.2f} {cpu:7.2f} {rss:8.0f} {peak:8.0f}")
    print("evaluate's stages (wall s):", {k: round(v, 2) for k, v in evaluation.stage_seconds.items()})
    print(
        f"scores {len(evaluation.scores)}, planned writes "
        f"{len(evaluation.plan.line_item_writes) + len(evaluation.plan.result_writes)}, ru_maxrss {bench.peak_rss_mb()} MB"
    )


if __name__ == "__main__":
    main()
