"""First use is safe under concurrency: 8 processes start at the same instant on a fresh
PASSBACK_HOME (no key file) and a fresh state DB (no schema), each registering its own district.

Before: the key file was read empty ("Fernet key must be 32 url-safe base64-encoded bytes") or
created twice, and the schema creation raced ("table alembic_version already exists").
Now every process succeeds, all secrets are encrypted with the one key that won, the schema is at
head, and the key file and the SQLite state DB are readable by their owner only.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from passback.settings import get_settings, reset_settings
from passback.store import districts
from passback.store.db import forget_engines, get_engine
from passback.store.migrate import current, head_revision
from passback.store.secrets import decrypt_secret

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 8

# Each process imports everything first, then waits for the start signal, so the first uses race.
REGISTER = """
import datetime as dt, os, sys, time
from pathlib import Path
from passback.settings import get_settings
from passback.store import districts
from passback.store.db import get_engine

go = Path(sys.argv[1])
Path(sys.argv[2]).touch()
while not go.exists():
    time.sleep(0.001)
n = sys.argv[3]
engine = get_engine(get_settings().state_db_url)
districts.add_district(engine, districts.DistrictSpec(
    id=f"HD{n}", name=f"District {n}", base_url="https://sis.example.org/ims/oneroster/v1p1",
    token_url="https://sis.example.org/oauth/token", client_id=f"otus-{n}", client_secret=f"secret-of-{n}-0042",
    effective_date=dt.date(2026, 8, 17)))
"""


@pytest.mark.fresh_state_db
def test_eight_processes_on_a_fresh_home_and_state_db_all_succeed(state_url: str, home: Path, tmp_path: Path) -> None:
    assert not (home / "secret.key").exists()
    go = tmp_path / "go"
    env = {**os.environ, "PASSBACK_HOME": str(home), "PASSBACK_STATE_URL": state_url}
    env.pop("PASSBACK_SECRET_KEY", None)
    ready = [tmp_path / f"ready-{n}" for n in range(PROCESSES)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER, str(go), str(ready[n]), str(n)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    deadline = time.monotonic() + 300
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    outcomes = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    assert [rc for rc, _ in outcomes] == [0] * PROCESSES, "\n".join(err for _, err in outcomes if err)

    reset_settings()
    forget_engines()
    engine = get_engine(get_settings().state_db_url)
    assert current(engine) == head_revision() == "0007_audit_compact"
    registered = {d.id: d for d in districts.list_districts(engine)}
    assert sorted(registered) == [f"HD{n}" for n in range(PROCESSES)]
    for n in range(PROCESSES):  # one key for all: every secret decrypts with the key on disk
        assert decrypt_secret(registered[f"HD{n}"].secret_ciphertext).get_secret_value() == f"secret-of-{n}-0042"

    key = home / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes().strip()) == 44
    assert [p.name for p in home.iterdir() if p.name.endswith(".tmp")] == []  # no temporary key files left
    if state_url.startswith("sqlite"):
        assert stat.S_IMODE((home / "state.db").stat().st_mode) == 0o600
