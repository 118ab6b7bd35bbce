"""The project's own OneRoster client against the simulator (in-process), plus server-level performance
guards: seeding a large district, and no delayed-ACK stall on keep-alive connections."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import httpx
from fastapi import FastAPI

from passback.scenario import (
    Scenario,
    SisAcademicSession,
    SisCategory,
    SisClass,
    SisDistrict,
    SisEnrollment,
    SisOrg,
    SisUser,
)
from passback.simulator.seed import seed_scenario
from passback.simulator.server import SimulatorThread, tenant_urls
from passback.simulator.store import Store
from tests.simulator.helpers import SECRETS, district, line_item, result


async def test_the_passback_client_reads_and_writes(app: FastAPI) -> None:
    from passback.oneroster.client import OneRosterClient

    api, token = tenant_urls("http://sim", "d1")
    async with OneRosterClient(
        "d1", api, token, "otus-d1", SECRETS["d1"], transport=httpx.ASGITransport(app=app)
    ) as client:
        periods = await client.grading_periods()
        assert [p.sourcedId for p in periods] == ["gp-q1", "gp-q2", "gp-q3"]
        assert {c.sourcedId for c in await client.categories()} >= {"cat-quiz", "cat-school"}
        created = await client.put_line_item("li-1", line_item())
        assert created.ok and created.created and created.http_status == 201
        rejected = await client.put_result("r-1", result(student={"sourcedId": "s3"}))
        assert not rejected.ok and rejected.http_status == 422 and rejected.rejection is not None
        assert rejected.rejection.code_minor == "invalid_data"
        assert (rejected.rejection.description or "").startswith("skyward.student_not_enrolled:")
        assert (await client.put_result("r-1", result())).created
        stored = await client.get_result("r-1")
        assert stored is not None and stored.score == 8.5


def test_seeding_a_60000_student_district_stores_every_enrollment() -> None:
    """Preset L's rostering size (its seeding time is the benchmarks' business, not a unit test's)."""
    users = [SisUser(sourcedId=f"s{i}", givenName="G", familyName="F", role="student") for i in range(60_000)]
    classes = [SisClass(sourcedId=f"c{i}", title=f"Class {i}", school="sch", terms=["term"]) for i in range(9_600)]
    enrollments = [
        SisEnrollment(sourcedId=f"e{i}", classSourcedId=f"c{i % 9_600}", userSourcedId=f"s{i % 60_000}", role="student")
        for i in range(240_000)
    ]
    big = SisDistrict(
        tenant="big",
        org=SisOrg(sourcedId="o", name="O"),
        users=users,
        classes=classes,
        enrollments=enrollments,
        categories=[SisCategory(sourcedId="cat", title="C")],
        academicSessions=[
            SisAcademicSession(
                sourcedId="gp",
                title="Q1",
                type="gradingPeriod",
                startDate=dt.date(2026, 8, 1),
                endDate=dt.date(2026, 12, 1),
                schoolYear="2027",
            )
        ],
    )
    store = Store(":memory:")
    seed_scenario(store, Scenario(districts=[big]))
    assert store.count("enrollment", "tenant=?", ["big"]) == 240_000
    assert store.is_enrolled("big", "c5", "s5")


def test_keep_alive_requests_are_not_delayed() -> None:
    with SimulatorThread(Scenario(districts=[district("d1")])) as sim, httpx.Client(trust_env=False) as client:
        client.get(f"{sim.url}/admin/health")
        spent = []
        for _ in range(15):
            started = time.perf_counter()
            client.get(f"{sim.url}/admin/health")
            spent.append(time.perf_counter() - started)
        assert statistics.median(spent) < 0.02  # Nagle + delayed ACK would make it ~40 ms
