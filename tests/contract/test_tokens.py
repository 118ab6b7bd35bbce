"""OAuth client credentials against the real simulator: cache, expiry, one refresh, rotation advice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from passback.oneroster import CredentialsRejected, OneRosterClient
from tests.contract.helpers import SECRETS, tenant_urls
from tests.toolkit import Sis


def token_calls(sim: Sis, tenant: str = "d1") -> list[int | None]:
    return [r["status"] for r in sim.requests(tenant) if r["path"].endswith("/oauth/token")]


def api_statuses(sim: Sis, tenant: str = "d1") -> list[int | None]:
    return [r["status"] for r in sim.requests(tenant) if "/ims/oneroster/" in r["path"]]


def assert_rotation_advice(exc: CredentialsRejected, district: str = "d1") -> None:
    text = str(exc)
    assert f"district {district}" in text
    assert f"passback district set {district} --client-secret" in text
    assert all(secret not in text and secret not in repr(exc) for secret in SECRETS.values())


async def test_one_token_serves_many_requests(client: OneRosterClient, sim: Sis) -> None:
    await client.categories()
    await client.grading_periods()
    await client.classes()
    assert token_calls(sim) == [200]
    assert client.stats.token_fetches == 1
    assert api_statuses(sim) == [200, 200, 200]


async def test_a_token_about_to_expire_is_fetched_again_before_use(
    make_client: Callable[..., OneRosterClient], sim: Sis
) -> None:
    sim.faults(token_lifetime_s=1)
    async with make_client() as client:
        await client.categories()
        await asyncio.sleep(1.1)
        await client.categories()
        assert client.stats.token_fetches == 2 and client.stats.token_refreshes == 0
    assert token_calls(sim) == [200, 200]
    assert api_statuses(sim) == [200, 200]  # never sent an expired token


async def test_a_token_expired_early_by_the_sis_is_refreshed_once_on_401(client: OneRosterClient, sim: Sis) -> None:
    await client.categories()  # cached for an hour as far as the client knows
    sim.faults(token_lifetime_s=1)  # the SIS now considers it expired
    await asyncio.sleep(1.1)
    categories = await client.categories()
    assert {c.sourcedId for c in categories} >= {"cat-quiz", "cat-test"}
    assert client.stats.token_refreshes == 1
    assert api_statuses(sim) == [200, 401, 200]
    assert token_calls(sim) == [200, 200]


async def test_a_second_401_raises_credentials_rejected_with_how_to_rotate(sim: Sis) -> None:
    """A d1 token is never valid on d2's API: the refresh does not help, the second 401 stops the district."""
    d2_api, _ = tenant_urls(sim.url, "d2")
    _, d1_token = tenant_urls(sim.url, "d1")
    async with OneRosterClient("d1", d2_api, d1_token, "otus-d1", SECRETS["d1"]) as client:
        with pytest.raises(CredentialsRejected) as caught:
            await client.categories()
    assert caught.value.status == 401 and caught.value.district_id == "d1"
    assert_rotation_advice(caught.value)
    assert api_statuses(sim, "d2") == [401, 401]  # one re-send after the refresh, no more
    assert token_calls(sim, "d1") == [200, 200]


async def test_a_revoked_client_is_told_to_rotate(client: OneRosterClient, sim: Sis) -> None:
    await client.categories()
    sim.revoke("d1")
    with pytest.raises(CredentialsRejected) as caught:
        await client.categories()
    assert_rotation_advice(caught.value)
    assert token_calls(sim) == [200, 401]


async def test_a_wrong_secret_is_rejected_at_the_token_endpoint(
    make_client: Callable[..., OneRosterClient], sim: Sis
) -> None:
    async with make_client(secret="not-the-secret-at-all") as client:
        with pytest.raises(CredentialsRejected) as caught:
            await client.categories()
    assert_rotation_advice(caught.value)
    assert "not-the-secret-at-all" not in str(caught.value)
    assert token_calls(sim) == [401]  # refused credentials are not retried
    assert api_statuses(sim) == []
