"""OAuth 2 client credentials, bearer checks, scopes, expiry, revocation and tenant isolation."""

from __future__ import annotations

import asyncio
import base64

import httpx

from passback.simulator.auth import scope_url
from tests.simulator.helpers import API, SECRETS, Api, get_token, status_of


async def test_token_by_basic_auth(http: httpx.AsyncClient) -> None:
    r = await http.post("/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"]))
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["access_token"]
    assert set(body["scope"].split()) == {
        scope_url(s)
        for s in (
            "roster-core.readonly",
            "roster.readonly",
            "gradebook.readonly",
            "gradebook.createput",
            "gradebook.delete",
        )
    }
    assert r.headers["cache-control"] == "no-store"


async def test_token_by_form_fields(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/d1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "otus-d1", "client_secret": SECRETS["d1"]},
    )
    assert r.status_code == 200 and r.json()["access_token"]


async def test_basic_credentials_are_form_urldecoded(http: httpx.AsyncClient) -> None:
    await http.post("/admin/tenants/d1/clients", json={"client_id": "odd id", "client_secret": "s:e/c+ret"})
    raw = base64.b64encode(b"odd+id:s%3Ae%2Fc%2Bret").decode()
    r = await http.post(
        "/d1/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {raw}"}
    )
    assert r.status_code == 200


async def test_wrong_secret_unknown_client_and_no_credentials_are_401_invalid_client(http: httpx.AsyncClient) -> None:
    for kwargs in ({"auth": ("otus-d1", "wrong")}, {"auth": ("nobody", SECRETS["d1"])}, {}):
        r = await http.post("/d1/oauth/token", data={"grant_type": "client_credentials"}, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await http.post("/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", "wrong"))
    assert r.headers["www-authenticate"].startswith("Basic")


async def test_grant_type_must_be_client_credentials(http: httpx.AsyncClient) -> None:
    r = await http.post("/d1/oauth/token", data={"grant_type": "password"}, auth=("otus-d1", SECRETS["d1"]))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


async def test_requested_scopes_are_intersected_with_the_clients(http: httpx.AsyncClient) -> None:
    want = f"{scope_url('gradebook.readonly')} {scope_url('gradebook.createput')} https://example.org/other"
    r = await http.post(
        "/d1/oauth/token", data={"grant_type": "client_credentials", "scope": want}, auth=("reader-d1", SECRETS["d1"])
    )
    assert r.json()["scope"] == scope_url("gradebook.readonly")
    r = await http.post(
        "/d1/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope_url("gradebook.delete")},
        auth=("reader-d1", SECRETS["d1"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


async def test_missing_or_bad_bearer_is_401_with_www_authenticate(http: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = await http.get(f"/d1{API}/classes", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert status_of(r)["imsx_codeMinor"] == "unauthorisedrequest"


async def test_each_operation_checks_its_scope(http: httpx.AsyncClient) -> None:
    reader = Api(http, "d1", await get_token(http, client_id="reader-d1"))
    assert (await reader.get("/classes")).status_code == 200
    assert (await reader.get("/lineItems")).status_code == 200
    r = await reader.put("/lineItems/x", {"lineItem": {}})
    assert r.status_code == 403 and status_of(r)["imsx_codeMinor"] == "forbidden"
    assert "gradebook.createput" in status_of(r)["imsx_description"]
    r = await reader.delete("/lineItems/x")
    assert r.status_code == 403 and "gradebook.delete" in status_of(r)["imsx_description"]
    roster_only = Api(http, "d1", await get_token(http, scope=scope_url("roster.readonly")))
    assert (await roster_only.get("/users")).status_code == 200  # roster.readonly is enough for rostering
    assert (await roster_only.get("/categories")).status_code == 403  # gradebook reads need gradebook.readonly
    core = Api(http, "d1", await get_token(http, scope=scope_url("roster-core.readonly")))
    assert (await core.get("/users")).status_code == 200


async def test_tokens_expire_after_the_lifetime_which_changes_at_run_time(http: httpx.AsyncClient, api: Api) -> None:
    assert (await api.get("/classes")).status_code == 200
    await http.post("/admin/faults", json={"token_lifetime_s": 0.2})
    r = await http.post("/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"]))
    assert r.json()["expires_in"] == 1
    fresh = Api(http, "d1", r.json()["access_token"])
    assert (await fresh.get("/classes")).status_code == 200
    await asyncio.sleep(0.25)
    for caller in (fresh, api):  # the older token is past the new lifetime too
        r = await caller.get("/classes")
        assert r.status_code == 401 and "expired" in status_of(r)["imsx_description"]


async def test_revoking_a_client_refuses_new_tokens_and_invalidates_existing_ones(
    http: httpx.AsyncClient, api: Api
) -> None:
    assert (await http.post("/admin/tenants/d1/clients/otus-d1/revoke")).status_code == 200
    assert (await api.get("/classes")).status_code == 401
    r = await http.post("/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"]))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # rotating (re-adding) the client with a new secret restores access with the new secret only
    await http.post("/admin/tenants/d1/clients", json={"client_id": "otus-d1", "client_secret": "rotated-secret"})
    assert (
        await http.post("/d1/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"]))
    ).status_code == 401
    assert await get_token(http, secret="rotated-secret")
    assert (await api.get("/classes")).status_code == 401  # the revoked token stays dead


async def test_a_token_of_one_tenant_is_refused_by_another(http: httpx.AsyncClient, api: Api) -> None:
    other = Api(http, "d2", api.token)
    r = await other.get("/classes")
    assert r.status_code == 401
    # d1's credentials do not work on d2's token URL either
    r = await http.post("/d2/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"]))
    assert r.status_code == 401
    assert (await Api(http, "d2", await get_token(http, "d2")).get("/classes")).status_code == 200


async def test_the_request_log_records_tenant_client_and_token_ownership_without_secrets(
    http: httpx.AsyncClient, api: Api
) -> None:
    await api.get("/classes")
    await Api(http, "d2", api.token).get("/classes")
    await http.post("/d2/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d2", "wrong"))
    log = (await http.get("/admin/requests")).json()["requests"]
    d1 = [e for e in log if e["tenant"] == "d1"]
    assert [(e["method"], e["status"], e["client_id"]) for e in d1] == [
        ("POST", 200, "otus-d1"),
        ("GET", 200, "otus-d1"),
    ]
    assert d1[1]["token_tenant_matches"] is True
    d2 = (await http.get("/admin/requests", params={"tenant": "d2"})).json()["requests"]
    assert (d2[0]["status"], d2[0]["token_tenant"], d2[0]["token_tenant_matches"]) == (401, "d1", False)
    assert (d2[1]["status"], d2[1]["client_id"]) == (401, "otus-d2")
    text = str(log)
    assert api.token not in text and SECRETS["d1"] not in text and "wrong" not in text


async def test_unknown_tenant_is_404(http: httpx.AsyncClient, api: Api) -> None:
    r = await http.post("/nope/oauth/token", data={"grant_type": "client_credentials"}, auth=("otus-d1", SECRETS["d1"]))
    assert r.status_code == 404
    assert (await Api(http, "nope", api.token).get("/classes")).status_code == 404
