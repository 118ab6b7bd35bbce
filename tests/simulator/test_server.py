"""The simulator as a real uvicorn server on loopback: dropped connections and hangs as an httpx
client sees them, the background thread and the child process."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from passback.scenario import Scenario
from passback.simulator.faults import FaultConfig
from passback.simulator.server import SimulatorProcess, SimulatorThread, _bind, serve, tenant_urls
from tests.simulator.helpers import SECRETS, line_item


@pytest.fixture
def server(scenario: Scenario) -> Iterator[SimulatorThread]:
    with SimulatorThread(scenario) as sim:
        yield sim


def token(client: httpx.Client, url: str, tenant: str = "d1") -> str:
    _, token_url = tenant_urls(url, tenant)
    r = client.post(token_url, data={"grant_type": "client_credentials"}, auth=(f"otus-{tenant}", SECRETS[tenant]))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_tenant_urls() -> None:
    assert tenant_urls("http://127.0.0.1:8765/", "d1") == (
        "http://127.0.0.1:8765/d1/ims/oneroster/v1p1",
        "http://127.0.0.1:8765/d1/oauth/token",
    )


def test_a_dropped_connection_is_a_transport_error_for_the_client(server: SimulatorThread) -> None:
    api, _ = tenant_urls(server.url, "d1")
    with httpx.Client(timeout=5) as client:
        headers = {"Authorization": f"Bearer {token(client, server.url)}"}
        client.post(f"{server.url}/admin/faults", json={"drop_rate": 1})
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get(f"{api}/classes", headers=headers)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.put(f"{api}/lineItems/li-1", json=line_item(), headers=headers)
        client.post(f"{server.url}/admin/faults", json={"drop_rate": 0})
        assert client.get(f"{api}/classes", headers=headers).status_code == 200  # the server is fine
        stats = client.get(f"{server.url}/admin/stats").json()["tenants"]["d1"]
        assert stats["dropped"] == 2 and stats["puts"]["lineItem"] == {"dropped": 1}
        assert client.get(f"{server.url}/admin/state", params={"tenant": "d1"}).json()["lineItems"] == []


def test_a_drop_after_processing_keeps_the_write(server: SimulatorThread) -> None:
    api, _ = tenant_urls(server.url, "d1")
    with httpx.Client(timeout=5) as client:
        headers = {"Authorization": f"Bearer {token(client, server.url)}"}
        client.post(f"{server.url}/admin/faults", json={"drop_rate": 1, "fault_phase": "after"})
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.put(f"{api}/lineItems/li-1", json=line_item(), headers=headers)
        state = client.get(f"{server.url}/admin/state", params={"tenant": "d1"}).json()
        assert [li["sourcedId"] for li in state["lineItems"]] == ["li-1"]


def test_a_hang_makes_the_client_time_out(server: SimulatorThread) -> None:
    api, _ = tenant_urls(server.url, "d1")
    with httpx.Client(timeout=5) as client:
        headers = {"Authorization": f"Bearer {token(client, server.url)}"}
        client.post(f"{server.url}/admin/faults", json={"hang_rate": 1, "hang_s": 1.5})
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"{api}/classes", headers=headers, timeout=0.3)
        r = client.get(f"{api}/classes", headers=headers, timeout=5)  # a patient client gets its answer
        assert r.status_code == 200
        client.post(f"{server.url}/admin/faults", json={"hang_rate": 0})
        assert client.get(f"{server.url}/admin/stats").json()["tenants"]["d1"]["hung"] == 2


def test_a_hung_write_is_stored_late_after_the_client_gave_up(server: SimulatorThread) -> None:
    api, _ = tenant_urls(server.url, "d1")
    with httpx.Client(timeout=5) as client:
        headers = {"Authorization": f"Bearer {token(client, server.url)}"}
        client.post(f"{server.url}/admin/faults", json={"hang_rate": 1, "hang_s": 0.5})
        with pytest.raises(httpx.ReadTimeout):
            client.put(f"{api}/lineItems/li-1", json=line_item(), headers=headers, timeout=0.2)
        client.post(f"{server.url}/admin/faults", json={"hang_rate": 0})
        time.sleep(0.8)
        state = client.get(f"{server.url}/admin/state", params={"tenant": "d1"}).json()
        assert [li["sourcedId"] for li in state["lineItems"]] == ["li-1"]


def test_serve_returns_a_started_thread(scenario: Scenario) -> None:
    with serve(scenario, faults=FaultConfig(latency_ms=1)) as sim:
        assert httpx.get(f"{sim.url}/admin/health").json()["tenants"] == ["d1", "d2"]
        assert httpx.get(f"{sim.url}/admin/faults").json()["latency_ms"] == 1


def test_the_simulator_process_serves_a_file_database(scenario: Scenario, tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    scenario.save(path)
    db = str(tmp_path / "sim.db")
    with SimulatorProcess(path, db_path=db, faults=FaultConfig(latency_ms=2)) as sim:
        assert sim.pid is not None and sim.port > 0
        api, _ = tenant_urls(sim.url, "d1")
        with httpx.Client(timeout=10) as client:
            headers = {"Authorization": f"Bearer {token(client, sim.url)}"}
            assert client.put(f"{api}/lineItems/li-1", json=line_item(), headers=headers).status_code == 201
            assert client.get(f"{sim.url}/admin/faults").json()["latency_ms"] == 2
    # restarted on the same file without a scenario: the gradebook and the roster are still there
    with SimulatorProcess(None, db_path=db) as sim:
        api, _ = tenant_urls(sim.url, "d1")
        with httpx.Client(timeout=10) as client:
            headers = {"Authorization": f"Bearer {token(client, sim.url)}"}
            assert client.get(f"{api}/lineItems/li-1", headers=headers).status_code == 200


def test_a_scenario_object_can_be_given_to_the_process(scenario: Scenario) -> None:
    with SimulatorProcess(scenario) as sim:
        assert httpx.get(f"{sim.url}/admin/health").json()["tenants"] == ["d1", "d2"]


def test_the_port_it_announces_already_takes_connections() -> None:
    """``sim serve --port 0`` prints "listening on" (and writes the port file) before uvicorn starts:
    a client that connects at once must wait in the backlog, not be refused (a loaded machine
    showed the refusal, tests/cli/test_tools.py)."""
    sock = _bind("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname()[:2], timeout=2):
            pass
    finally:
        sock.close()
