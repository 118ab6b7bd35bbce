"""Secrets: after a full run with DEBUG logging, neither a client secret nor a bearer token appears
anywhere — console output, Python logging, Prefect logs and artifacts, Data Docs, the JSON summary,
exception texts, the state DB file.  TLS certificates are verified unless a district opts out, and
the opt-out is logged loudly.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import os
import pickle
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from passback.store import districts as store
from tests.factory import as_district, merge, scenario_for, with_students, world, write_source
from tests.reliability._districts import state_engine, tls_server
from tests.toolkit import UTC_NOW, Sis, prefect_db

TENANTS = ("d1", "d2")


def secret_forms(client_id: str, secret: str) -> list[bytes]:
    """The secret as it could leak: plain, form-encoded, inside an HTTP Basic header."""
    basic = base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode())
    return [secret.encode(), quote_plus(secret).encode(), basic]


@pytest.fixture
def leaky_world(home) -> Iterator[dict[str, Any]]:
    """d1 (healthy, 25 students) and d2 (its client revoked: a credentials failure) on one simulator
    whose every issued token is recorded.  Secrets are unique to this test."""
    from passback.simulator.server import SimulatorThread
    from tests.toolkit import register

    secrets = {t: f"S3cr3t-{t}-{uuid.uuid4().hex}" for t in TENANTS}
    base = with_students(world(), 25)
    worlds = {"d1": base, "d2": as_district(base, "d2")}
    write_source(merge(*worlds.values()), get_settings().source_db_url)
    scenario = Scenario(
        districts=[
            scenario_for(w, tenant=t, client_id=f"otus-{t}", client_secret=secrets[t]) for t, w in worlds.items()
        ]
    )
    tokens: list[str] = []
    with SimulatorThread(scenario) as server:
        auth = server.app.state.sim.auth
        issue = auth.issue

        def recording_issue(*args: Any, **kwargs: Any) -> Any:
            client_id, body = issue(*args, **kwargs)
            tokens.append(str(body["access_token"]))
            return client_id, body

        auth.issue = recording_issue
        for t in TENANTS:
            register(t, server.url, client_id=f"otus-{t}", client_secret=secrets[t])
        sim = Sis(server.url, server.app)
        sim.revoke("d2", "otus-d2")
        yield {"sim": sim, "secrets": secrets, "tokens": tokens}


def needles(world_: dict[str, Any]) -> list[bytes]:
    out = [form for t, secret in world_["secrets"].items() for form in secret_forms(f"otus-{t}", secret)]
    out += [token.encode() for token in world_["tokens"]]
    return out


def leaks_in(data: bytes, world_: dict[str, Any]) -> list[str]:
    return [n.decode()[:12] + "…" for n in needles(world_) if n in data]


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


async def prefect_records() -> tuple[list[Any], list[Any]]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        artifacts = await client.read_artifacts(limit=200)
        logs = await client.read_logs(limit=200)
        offset = 200
        while True:
            more = await client.read_logs(limit=200, offset=offset)
            if not more:
                break
            logs += more
            offset += 200
    return artifacts, logs


@pytest.mark.slow
def test_a_debug_run_leaks_no_secret_and_no_token_anywhere(prefect_api, leaky_world, home, tmp_path) -> None:
    prefect_home = tmp_path / "prefect-home"
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PASSBACK_LOG_LEVEL": "DEBUG",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        # every library's DEBUG records (passback, httpx, httpcore, authlib) to the console and the Prefect API
        "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "passback,httpx,httpcore,authlib",
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "passback", "sync", "--json"], capture_output=True, env=env, timeout=300, check=False
    )
    world_ = leaky_world
    assert world_["tokens"], "no token was issued: the run did not talk to the SIS"

    # the run happened, with DEBUG output, and d2's credentials failure was reported
    assert done.returncode == 1, done.stderr.decode(errors="replace")[-3000:]
    summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
    by_id = {d["district"]: d for d in summary["districts"]}
    assert by_id["d1"]["status"] == "completed" and by_id["d1"]["writes"] > 25
    assert by_id["d2"]["status"] == "failed" and "rotate" in by_id["d2"]["error"]

    # console output and the JSON summary
    assert not leaks_in(done.stdout, world_), "stdout"
    assert not leaks_in(done.stderr, world_), "stderr"

    # Prefect: artifacts and logs through the API, then every byte of its database (and PREFECT_HOME)
    artifacts, logs = asyncio.run(prefect_records())
    keys = {a.key for a in artifacts}
    assert {"passback-d1", "passback-d2", "passback-nightly"} <= keys, keys
    assert any("token fetched" in log.message for log in logs)  # passback's DEBUG records were emitted
    for artifact in artifacts:
        assert not leaks_in(json.dumps(artifact.data, default=str).encode(), world_), artifact.key
        assert not leaks_in(str(artifact.description or "").encode(), world_), artifact.key
    for log in logs:
        assert not leaks_in(log.message.encode(), world_), log.message[:200]
    prefect_files = files_under(prefect_db().parent, prefect_home)
    assert any(b"passback-d1" in p.read_bytes() for p in prefect_files)  # the artifacts are in these files
    for path in prefect_files:
        assert not leaks_in(path.read_bytes(), world_), path

    # passback's home: state DB (secrets Fernet-encrypted), Data Docs, source DB, anything else
    state_db = Path(get_settings().state_db_url.removeprefix("sqlite:///"))
    state_bytes = b"".join(p.read_bytes() for p in state_db.parent.glob(state_db.name + "*"))  # with its -wal
    assert b"otus-d1" in state_bytes and b"gAAAAA" in state_bytes  # the district row and a Fernet token are there
    docs = list((home / "data_docs").rglob("*.html"))
    assert docs, "no Data Docs were built"
    for path in files_under(home):
        assert not leaks_in(path.read_bytes(), world_), path
    ciphertext = store.get_district(state_engine(), "d1").secret_ciphertext
    assert world_["secrets"]["d1"] not in ciphertext


def test_python_logging_exceptions_and_reprs_never_carry_secrets(leaky_world, caplog) -> None:
    """The library's own run at DEBUG for every logger, with token expiry mid-run (refresh after 401)."""
    from passback.oneroster.errors import CredentialsRejected
    from passback.sync.district import RunOptions, client_for, sync_district

    world_ = leaky_world
    sim = world_["sim"]
    sim.faults(token_lifetime_s=0.25, latency_ms=5)  # tokens expire during d1's load: 401, refresh, go on
    caplog.set_level(logging.DEBUG)
    summaries = {t: asyncio.run(sync_district(t, RunOptions(utc_now=UTC_NOW, build_docs=False))) for t in TENANTS}
    assert summaries["d1"].status == "completed", summaries["d1"].error
    assert sim.tenant_stats("d1")["token_requests"].get("200", 0) >= 2  # the token was refreshed at least once
    assert summaries["d2"].status == "failed" and "rotate" in summaries["d2"].error
    assert len(world_["tokens"]) >= 2

    texts = [caplog.text] + [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert any("token" in t for t in texts)  # DEBUG records of the token source were captured
    for text in texts:
        assert not leaks_in(text.encode(), world_), text[:300]
    for summary in summaries.values():
        assert not leaks_in(json.dumps(summary.as_json(), default=str).encode(), world_)

    # the exception itself: message, repr, traceback, and after a pickle round trip (Prefect may ship it)
    district = store.get_district(state_engine(), "d2")

    async def fail() -> BaseException:
        async with client_for(district) as client:
            try:
                await client.grading_periods()
            except CredentialsRejected as exc:
                return exc
        raise AssertionError("revoked credentials were accepted")

    exc = asyncio.run(fail())
    shown = [str(exc), repr(exc), "".join(traceback.format_exception(exc)), str(pickle.loads(pickle.dumps(exc)))]
    assert "d2" in shown[0] and "rotate" in shown[0]
    for text in shown + [repr(district), str(district), repr(client_for(district))]:
        assert not leaks_in(text.encode(), world_), text[:300]


def test_tls_is_verified_by_default_and_the_opt_out_warns_loudly(home, tmp_path, caplog) -> None:
    import ssl

    from passback.oneroster.errors import OneRosterError, SisUnreachable
    from passback.sync.district import client_for

    engine = state_engine()
    with tls_server(tmp_path) as url:
        common = dict(
            name="D",
            base_url=f"{url}/t/ims/oneroster/v1p1",
            token_url=f"{url}/t/oauth/token",
            client_id="c",
            client_secret="s-" + uuid.uuid4().hex,
            effective_date=dt.date(2026, 8, 17),
        )
        store.add_district(engine, store.DistrictSpec(id="strict", **common))
        store.add_district(engine, store.DistrictSpec(id="lax", verify_tls=False, **common))

        def contexts(client: Any) -> list[ssl.SSLContext]:  # one httpx client sends the API and token requests
            return [client._http.transport.ssl_context]

        caplog.set_level(logging.WARNING)
        strict = client_for(store.get_district(engine, "strict"))
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        for context in contexts(strict):
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname

        lax = client_for(store.get_district(engine, "lax"))
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "lax" in warnings[0].getMessage()
        assert "TLS certificate verification is OFF" in warnings[0].getMessage()
        for context in contexts(lax):
            assert context.verify_mode == ssl.CERT_NONE

        async def token(client: Any) -> BaseException:
            async with client:
                try:
                    await client.grading_periods()
                except OneRosterError as exc:
                    return exc
            raise AssertionError("the fake SIS cannot issue tokens")

        # behaviour: the default refuses the self-signed certificate; the opt-out gets through TLS
        refused = asyncio.run(token(strict))
        assert isinstance(refused, SisUnreachable) and "tls" in str(refused) and "certificate" in str(refused)
        passed = asyncio.run(token(lax))
        assert not isinstance(passed, SisUnreachable) and "access_token" in str(passed), passed


def test_passback_log_level_debug_turns_on_debug_records_without_secrets(leaky_world) -> None:
    """PASSBACK_LOG_LEVEL=DEBUG (the documented setting) alone shows passback's DEBUG records."""
    env = {**os.environ, "PASSBACK_LOG_LEVEL": "DEBUG"}
    env.pop("PREFECT_LOGGING_ROOT_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "passback", "doctor", "d1"], capture_output=True, env=env, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert b"credentials" in done.stdout, output.decode(errors="replace")[-2000:]  # the checks ran
    assert leaky_world["tokens"], "doctor fetched no token"
    assert b"DEBUG" in output and b"token fetched" in output, output.decode(errors="replace")[-2000:]
    assert not leaks_in(output, leaky_world)
