"""The /admin control plane: state (with the duplicate count), stats, settings, periods, clients,
request log, scenario loading."""

from __future__ import annotations

import httpx

from passback.scenario import Scenario
from tests.simulator.helpers import Api, district, get_token, line_item, result


async def test_health_lists_tenants(http: httpx.AsyncClient) -> None:
    assert (await http.get("/admin/health")).json() == {"status": "ok", "tenants": ["d1", "d2"], "db": ":memory:"}


async def test_state_holds_full_objects_counts_and_duplicate_line_items(http: httpx.AsyncClient, api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    await api.put("/lineItems/li-1", line_item())  # the same sourcedId again: a replace, not a duplicate
    await api.put("/results/r-1", result())
    state = (await http.get("/admin/state", params={"tenant": "d1"})).json()
    assert state["duplicate_line_items"] == 0 and state["counts"] == {"lineItems": 1, "results": 1}
    assert state["lineItems"][0]["title"] == "Fractions quiz" and state["results"][0]["score"] == 8.5
    assert state["settings"] == {"licensed": True, "use_grade_when_posting": False}
    assert state["closed_grading_periods"] == ["gp-q1"]
    # the same (class, title, due date) under other sourcedIds: two extra copies
    await api.put("/lineItems/li-copy", line_item(dueDate="2026-11-09"))
    await api.put("/lineItems/li-copy2", line_item())
    await api.put("/lineItems/li-other-class", line_item(**{"class": {"sourcedId": "c2"}}))
    await api.put("/lineItems/li-other-due", line_item(dueDate="2026-11-10"))
    state = (await http.get("/admin/state", params={"tenant": "d1", "objects": "false"})).json()
    assert state["duplicate_line_items"] == 2 and state["counts"]["lineItems"] == 5
    assert "lineItems" not in state
    assert (await http.get("/admin/state", params={"tenant": "d2"})).json()["counts"] == {"lineItems": 0, "results": 0}
    assert (await http.get("/admin/state", params={"tenant": "zz"})).status_code == 404


async def test_stats_count_writes_by_kind_and_status_and_reset(http: httpx.AsyncClient, api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    await api.put("/lineItems/li-1", line_item())
    await api.put("/lineItems/li-2", line_item(title=""))
    await api.put("/results/r-1", result())
    await api.delete("/results/r-1")
    await api.get("/classes")
    stats = (await http.get("/admin/stats")).json()
    d1 = stats["tenants"]["d1"]
    assert d1["puts"] == {"lineItem": {"201": 1, "200": 1, "422": 1}, "result": {"201": 1}}
    assert d1["deletes"] == {"lineItem": {}, "result": {"204": 1}}
    assert d1["token_requests"] == {"200": 1} and d1["reads"] == {"200": 1}
    assert d1["requests"] == 7 and d1["writes"] == 5 and stats["total_requests"] == 7 and stats["total_writes"] == 5
    assert (await http.post("/admin/reset-stats")).status_code == 200
    after = (await http.get("/admin/stats")).json()
    assert after["total_requests"] == 0 and after["tenants"] == {}
    assert (await http.get("/admin/requests")).json()["requests"] == []


async def test_request_log_can_be_read_incrementally(http: httpx.AsyncClient, api: Api) -> None:
    for _ in range(3):
        await api.get("/classes")
    log = (await http.get("/admin/requests", params={"tenant": "d1"})).json()["requests"]
    assert [e["seq"] for e in log] == [1, 2, 3, 4]
    newer = (await http.get("/admin/requests", params={"since": 2})).json()["requests"]
    assert [e["seq"] for e in newer] == [3, 4]
    last = (await http.get("/admin/requests", params={"limit": 1})).json()["requests"]
    assert [(e["seq"], e["path"]) for e in last] == [(4, "/d1/ims/oneroster/v1p1/classes")]


async def test_settings_are_patched_per_tenant(http: httpx.AsyncClient) -> None:
    r = await http.post("/admin/tenants/d2/settings", json={"licensed": False})
    assert r.json() == {"licensed": False, "use_grade_when_posting": False}
    r = await http.post("/admin/tenants/d2/settings", json={"use_grade_when_posting": True})
    assert r.json() == {"licensed": False, "use_grade_when_posting": True}
    assert (await http.get("/admin/state", params={"tenant": "d1"})).json()["settings"]["licensed"] is True
    assert (await http.post("/admin/tenants/d2/settings", json={"bogus": 1})).status_code == 422
    assert (await http.post("/admin/tenants/zz/settings", json={})).status_code == 404


async def test_grading_periods_close_and_open(http: httpx.AsyncClient) -> None:
    assert (await http.post("/admin/tenants/d1/grading-periods/gp-q3/close")).json()["closed"] is True
    assert (await http.get("/admin/state", params={"tenant": "d1"})).json()["closed_grading_periods"] == [
        "gp-q1",
        "gp-q3",
    ]
    await http.post("/admin/tenants/d1/grading-periods/gp-q1/open")
    assert (await http.get("/admin/state", params={"tenant": "d1"})).json()["closed_grading_periods"] == ["gp-q3"]
    assert (await http.post("/admin/tenants/d1/grading-periods/term-1/close")).status_code == 404


async def test_clients_are_added_with_scopes_and_revoked(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/admin/tenants/d2/clients",
        json={
            "client_id": "new",
            "client_secret": "s3cret",
            "scopes": ["https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly"],
        },
    )
    assert r.status_code == 200 and "s3cret" not in r.text
    t = await get_token(http, "d2", "new", "s3cret")
    assert (await Api(http, "d2", t).get("/lineItems")).status_code == 403
    assert (await http.post("/admin/tenants/d2/clients/nobody/revoke")).status_code == 404


async def test_load_scenario_reseeds_roster_and_keeps_the_gradebook(http: httpx.AsyncClient, api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    d1 = district("d1")
    d1.categories = d1.categories[:1]
    d3 = district("d1").model_copy(update={"tenant": "d3"})
    r = await http.post("/admin/load-scenario", json=Scenario(districts=[d1, d3]).model_dump(mode="json"))
    assert r.json() == {"status": "ok", "tenants": ["d1", "d3"]}
    assert (await http.get("/admin/health")).json()["tenants"] == ["d1", "d2", "d3"]
    api.token = await get_token(http, "d1")
    assert [c["sourcedId"] for c in (await api.get("/categories")).json()["categories"]] == ["cat-quiz"]
    assert (await api.get("/lineItems/li-1")).status_code == 200
    await http.post(
        "/admin/load-scenario",
        params={"reset_gradebook": "true"},
        json=Scenario(districts=[d1]).model_dump(mode="json"),
    )
    assert (await http.get("/admin/state", params={"tenant": "d1"})).json()["lineItems"] == []


async def test_admin_is_never_faulted_nor_logged(http: httpx.AsyncClient) -> None:
    await http.post("/admin/faults", json={"error_rate": 1, "drop_rate": 0})
    assert all([(await http.get("/admin/health")).status_code == 200 for _ in range(20)])
    assert (await http.get("/admin/requests")).json()["requests"] == []
