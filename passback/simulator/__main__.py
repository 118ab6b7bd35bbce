"""``python -m passback.simulator``: the child process of ``SimulatorProcess`` (and a bare CLI)."""

from __future__ import annotations

import argparse
from pathlib import Path

from passback.simulator.faults import FaultConfig
from passback.simulator.server import run_server


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m passback.simulator", description="Skyward OneRoster 1.1 simulator")
    p.add_argument("--scenario", type=Path, default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--db", default=":memory:")
    p.add_argument("--faults", default="{}", help="FaultConfig as JSON")
    p.add_argument("--token-lifetime", type=float, default=3600.0)
    p.add_argument("--port-file", type=Path, default=None)
    a = p.parse_args(argv)
    run_server(
        a.scenario,
        a.host,
        a.port,
        a.db,
        FaultConfig.model_validate_json(a.faults),
        token_lifetime_s=a.token_lifetime,
        port_file=a.port_file,
    )


if __name__ == "__main__":
    main()
