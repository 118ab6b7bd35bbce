"""Alerts for real: a Prefect server on loopback with the deployments and a worker, the automations
installed by `passback alerts install --webhook URL`, a loopback HTTP receiver as the webhook.  A
district whose credentials were revoked and a district a guard holds each produce ONE message that
names the district and the cause (and links the flow run)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from passback.scenario import Scenario
from passback.settings import get_settings
from tests.factory import as_district, merge, scenario_for, world, write_source
from tests.prefect_stack import ROOT, PrefectStack, passback_home
from tests.toolkit import register

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "hook-token-7f3a"  # in the webhook's path: never printed


class Receiver:
    """A loopback HTTP server keeping each POSTed JSON body."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body or b"{}") | {"path": self.path})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{WEBHOOK_SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def about(self, district: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if district in m.get("subject", "")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stack(prefect_stack: PrefectStack) -> Iterator[tuple[PrefectStack, Receiver]]:
    from passback.simulator.server import SimulatorThread

    receiver = Receiver()
    with passback_home(prefect_stack.home):
        worlds = {d: as_district(world(), d) for d in ("dRevoked", "dHeld")}
        write_source(merge(*worlds.values()), get_settings().source_db_url)
        try:
            with SimulatorThread(Scenario(districts=[scenario_for(w, tenant=d) for d, w in worlds.items()])) as sim:
                register("dRevoked", sim.url, client_secret="revoked-by-the-district")  # the SIS refuses it
                register("dHeld", sim.url, guard_writes=1)  # the factory world writes two items: held
                yield prefect_stack, receiver
        finally:  # the session's stack goes on without this module's automations
            for automation in prefect_stack.post("/automations/filter", {}).json():
                prefect_stack.delete(f"/automations/{automation['id']}")
            receiver.close()


def wait_for(receiver: Receiver, district: str, timeout: float = 180) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not receiver.about(district):
        time.sleep(0.5)
    return receiver.about(district)


def test_install_then_a_revoked_district_and_a_held_one_each_send_one_message(
    stack: tuple[PrefectStack, Receiver],
) -> None:
    prefect, receiver = stack
    done = subprocess.run(
        [sys.executable, "-m", "passback", "alerts", "install", "--webhook", receiver.url],
        capture_output=True,
        text=True,
        env=prefect.env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "installed 2 alert automations" in done.stdout and WEBHOOK_SECRET not in done.stdout + done.stderr
    again = subprocess.run(
        [sys.executable, "-m", "passback", "alerts", "install", "--webhook", receiver.url],
        capture_output=True,
        text=True,
        env=prefect.env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr  # replaces them: still one message per event below
    automations = prefect.post("/automations/filter", {}).json()
    assert sorted(a["name"] for a in automations) == [
        "passback: district held for approval",
        "passback: district run failed",
    ]

    failed = prefect.run_deployment("district-sync/district-sync", district_id="dRevoked")
    held = prefect.run_deployment("district-sync/district-sync", district_id="dHeld")  # both at once
    assert prefect.wait(failed, timeout=240)["type"] == "FAILED"
    assert prefect.wait(held, "PAUSED", timeout=240)["type"] == "PAUSED"

    [revoked] = wait_for(receiver, "dRevoked")
    assert "dRevoked failed" in revoked["subject"]
    assert "Cause:" in revoked["text"] and "dRevoked" in revoked["text"] and "credential" in revoked["text"].lower()
    assert failed in revoked["text"]  # the flow run's UI link
    [waiting] = wait_for(receiver, "dHeld")
    assert "dHeld held for approval" in waiting["subject"]
    assert "writes 2 > 1" in waiting["text"] and "passback approve dHeld" in waiting["text"] and held in waiting["text"]

    prefect.resume(held, decision="reject", note="not tonight", approver="test")
    assert prefect.wait(held, timeout=240)["name"] == "Held"
    time.sleep(10)  # a second message about either (a duplicate) would have arrived by now
    assert len(receiver.about("dHeld")) == 1 and len(receiver.about("dRevoked")) == 1
    assert all(m["path"] == f"/hooks/{WEBHOOK_SECRET}" for m in receiver.messages)
