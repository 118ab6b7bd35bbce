"""Several districts on one simulator: the reliability tests of credentials, systemic rejection, bad input, secrets.

Worlds of several districts on one simulator (a real uvicorn server on loopback, in this process),
each district with its own OAuth client; the simulator's admin plane is ``tests.toolkit.Sis``;
a background watcher that acts once when the simulator has seen enough writes; a dump of the
state DB; the gradebook of a tenant normalised so two districts' gradebooks can be compared.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, inspect, text

from passback.domain.payloads import line_item_id, result_id
from passback.settings import get_settings
from passback.store.db import get_engine
from tests.factory import World, as_district, assessment, scenario_for, score, with_students, world

TENANTS = ("d1", "d2", "d3")


def client_id_of(tenant: str) -> str:
    return f"otus-{tenant}"


def secret_of(tenant: str, generation: int = 1) -> str:
    """A distinctive secret per district (and per rotation), easy to grep for."""
    return f"Sup3rSecret-{tenant}-gen{generation}-Zq8wX4vR7tY1"


# -- worlds ------------------------------------------------------------------------------------
def big_world(assessments: list[dict[str, Any]], students: int) -> World:
    """A factory world with the given assessments (of class c-1), ``students`` SIS students enrolled in
    c-1 and a graded score for every (assessment, student); the group holds both teachers."""
    base = world(assessments, [score(assessment_id=a["id"]) for a in assessments], group=["u-t1", "u-t2"])
    return with_students(base, students)


def quarter_assessments(prefix: str, n: int, *, assign: str, due: str) -> list[dict[str, Any]]:
    """n distinct eligible assessments (distinct titles: no look-alike duplicates in the SIS)."""
    return [
        assessment(
            id=f"{prefix}-{i}",
            title=f"{prefix.upper()} quiz {i}",
            assign_date=pd.Timestamp(assign),
            due_date=pd.Timestamp(due),
        )
        for i in range(n)
    ]


def Q2(prefix: str, n: int) -> list[dict[str, Any]]:
    return quarter_assessments(prefix, n, assign="2026-11-02", due="2026-11-09")


def Q3(prefix: str, n: int) -> list[dict[str, Any]]:
    return quarter_assessments(prefix, n, assign="2027-01-05", due="2027-01-12")


def for_tenant(w: World, tenant: str) -> World:
    return w if tenant == "d1" else as_district(w, tenant)


def tenant_scenario(w: World, tenant: str, **kw: Any) -> Any:
    return scenario_for(w, tenant=tenant, client_id=client_id_of(tenant), client_secret=secret_of(tenant), **kw)


def register_district(district_id: str, sis_url: str, **overrides: Any) -> None:
    """Register a district against the simulator with its own client id and secret, and map all 12 types."""
    from tests.toolkit import register

    overrides.setdefault("client_id", client_id_of(district_id))
    overrides.setdefault("client_secret", secret_of(district_id))
    register(district_id, sis_url, **overrides)


def state_engine() -> Any:
    return get_engine(get_settings().state_db_url)


def ok_count(counts: dict[str, int]) -> int:
    return sum(n for status, n in counts.items() if status.isdigit() and 200 <= int(status) < 300)


class Watcher(threading.Thread):
    """Polls ``probe()`` and calls ``action()`` once, as soon as ``probe()`` is true (a background thread
    acting while a run is in progress).  ``fired_at``: the value of ``observe()`` just before the action."""

    def __init__(
        self,
        probe: Callable[[], bool],
        action: Callable[[], None],
        *,
        observe: Callable[[], Any] = lambda: None,
        poll_s: float = 0.005,
        timeout_s: float = 600.0,  # from before the run starts: a busy machine takes minutes to get there
    ) -> None:
        super().__init__(daemon=True, name="reliability-watcher")
        self.probe, self.action, self.observe = probe, action, observe
        self.poll_s, self.timeout_s = poll_s, timeout_s
        self.fired = threading.Event()
        self.stop_event = threading.Event()
        self.fired_at: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        try:
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                if self.probe():
                    self.fired_at = self.observe()
                    self.action()
                    self.fired.set()
                    return
                time.sleep(self.poll_s)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)


# -- the state DB -----------------------------------------------------------------------------
def dump_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a database, sorted (a before/after comparison)."""
    engine = create_engine(url)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as conn:
            for table in sorted(inspect(conn).get_table_names()):
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).fetchall()
                out[table] = sorted((tuple(r) for r in rows), key=repr)
        return out
    finally:
        engine.dispose()


def ledger_frame(district_id: str) -> pd.DataFrame:
    engine = create_engine(get_settings().state_db_url)
    try:
        return pd.read_sql(text("SELECT * FROM ledger_entry WHERE district_id = :d"), engine, params={"d": district_id})
    finally:
        engine.dispose()


# -- gradebooks -------------------------------------------------------------------------------
def _strip(value: Any, tenant: str) -> Any:
    return value.removeprefix(f"{tenant}:") if isinstance(value, str) else value


def normalised_gradebook(state: dict[str, Any], tenant: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A tenant's lineItems and results without its id prefixes, sourcedIds or timestamps: what a teacher sees."""
    titles = {li["sourcedId"]: li["title"] for li in state["lineItems"]}
    line_items = sorted(
        (
            li["title"],
            li["assignDate"],
            li["dueDate"],
            _strip(li["class"]["sourcedId"], tenant),
            li["category"]["sourcedId"],
            li["gradingPeriod"]["sourcedId"],
            float(li["resultValueMax"]),
            li["status"],
        )
        for li in state["lineItems"]
    )
    results = sorted(
        (
            titles.get(r["lineItem"]["sourcedId"], "?orphan"),
            _strip(r["student"]["sourcedId"], tenant),
            float(r["score"]),
            str(r["scoreStatus"]).lower(),
            r.get("comment") or "",
        )
        for r in state["results"]
    )
    return line_items, results


def expected_ids(district_id: str, w: World) -> dict[str, set[str]]:
    """The lineItem and result sourcedIds a clean run writes for a world whose rows are all eligible."""
    return {
        "lineItem": {line_item_id(district_id, a) for a in w.assessments["id"]},
        "result": {
            result_id(district_id, a, s) for a, s in zip(w.scores["assessment_id"], w.scores["student_id"], strict=True)
        },
    }


def item_id_of_path(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


# -- TLS ---------------------------------------------------------------------------------------
def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextlib.contextmanager
def tls_server(directory: Path) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate on 127.0.0.1 answering 200 {} to everything."""
    import http.server
    import ssl

    cert, key = self_signed_cert(directory)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _ok(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PUT = _ok

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
