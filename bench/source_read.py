"""Time ``generate`` + ``write_world`` + ``read_district`` at a preset (the numbers in docs/source.md).

    python bench/source_read.py M [L ...] [--dir /tmp/passback-timing]

The read runs in a fresh process, so its peak memory is the reader's alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def time_read(url: str, district_id: str) -> dict[str, float | int]:
    from passback.source.read import read_district

    t0 = time.perf_counter()
    frames = read_district(url, district_id)
    return {
        "read_s": round(time.perf_counter() - t0, 2),
        "read_rows": sum(frames.counts().values()),
        "read_peak_rss_mb": _peak_rss_mb(),
    }


def time_preset(preset: str, folder: Path, *, seed: int = 7) -> dict[str, float | int | str]:
    from passback.source.generate import generate
    from passback.source.write import write_world

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"otus-{preset}.db"
    url = f"sqlite:///{db.as_posix()}"
    t0 = time.perf_counter()
    world = generate(preset, seed=seed, today=dt.date(2026, 11, 18))
    t1 = time.perf_counter()
    write_world(world, url, folder / f"scenario-{preset}.json")
    t2 = time.perf_counter()
    out: dict[str, float | int | str] = {
        "preset": preset,
        "assessments": world.counts["assessments"],
        "scores": world.counts["scores"],
        "generate_s": round(t1 - t0, 2),
        "write_s": round(t2 - t1, 2),
        "db_mb": round(db.stat().st_size / 2**20, 1),
        "generate_write_peak_rss_mb": _peak_rss_mb(),
    }
    reader = subprocess.run(
        [sys.executable, __file__, "--read", url, world.seeds[0].district_id],
        check=True,
        capture_output=True,
        text=True,
    )
    out.update(json.loads(reader.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("presets", nargs="*")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/passback-timing"))
    parser.add_argument("--read", nargs=2, metavar=("URL", "DISTRICT"), help="only time one read (used internally)")
    args = parser.parse_args()
    if args.read:
        print(json.dumps(time_read(*args.read)))
        return
    for preset in args.presets:
        print(json.dumps(time_preset(preset, args.dir)), flush=True)


if __name__ == "__main__":
    main()
