"""The client against the real simulator's hostile faults: only a OneRoster answer acknowledges a
write, a redirect is a configuration error, every bound ends with one clear error naming the
district, and no secret survives any error path."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from passback.oneroster import (
    BoundExceeded,
    CredentialsRejected,
    OneRosterClient,
    PaginationError,
    SisRedirected,
    TransientExhausted,
    UnexpectedAnswer,
)
from passback.redaction import secret_forms
from passback.simulator.hostile import LOGIN_HOST
from tests.contract.helpers import SECRETS, line_item
from tests.leaks import everything_shown, exception_chain
from tests.toolkit import Sis

Make = Callable[..., OneRosterClient]


def items(n: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"li-{i}", line_item(f"li-{i}", title=f"Quiz {i}")) for i in range(n)]


@pytest.mark.parametrize(
    ("knob", "said"),
    [
        ("html_write_rate", "an HTML page: a login page or a proxy"),
        ("foreign_json_rate", "JSON that is not a OneRoster lineItem"),
    ],
)
async def test_writes_answered_with_something_else_are_never_acknowledged(
    make_client: Make, sim: Sis, knob: str, said: str
) -> None:
    sim.faults(**{knob: 1.0})
    async with make_client(concurrency=2) as client:
        first = await client.put_line_item("li-0", line_item("li-0"))
        assert not first.ok and first.error is not None and said in first.error and first.http_status == 200
        with pytest.raises(UnexpectedAnswer) as caught:
            _ = [o async for o in client.put_many("lineItem", items(10))]
    text = str(caught.value)
    assert "district d1 stopped" in text and said in text and "passback district show d1" in text
    assert not caught.value.retriable
    assert sim.state()["lineItems"] == []
    assert len([r for r in sim.requests("d1") if r["method"] == "PUT"]) <= 3 + 2  # a few, then stopped (+ in flight)


async def test_a_redirect_on_a_write_names_the_other_host_and_stops(make_client: Make, sim: Sis) -> None:
    sim.faults(redirect_rate=1.0)
    async with make_client() as client:
        with pytest.raises(SisRedirected) as caught:
            await client.put_line_item("li-1", line_item("li-1"))
    text = str(caught.value)
    assert LOGIN_HOST in text and "HTTP 307" in text and "district d1" in text and "--base-url" in text
    assert caught.value.status == 307 and not caught.value.retriable
    assert [r["status"] for r in sim.requests("d1") if r["method"] == "PUT"] == [307]  # not retried, not a rejection


async def test_a_phantom_write_is_caught_by_the_read_back(make_client: Make, sim: Sis) -> None:
    async with make_client() as client:
        assert (await client.put_line_item("li-1", line_item("li-1", title="Kept title"))).ok
        assert await client.read_back("lineItem", "li-1", line_item("li-1", title="Kept title")) == []
        sim.faults(phantom_write_rate=1.0)
        changed, new = line_item("li-1", title="Lost title"), line_item("li-2")
        assert (await client.put_line_item("li-1", changed)).ok and (await client.put_line_item("li-2", new)).ok
        assert await client.read_back("lineItem", "li-1", changed) == [
            "title 'Lost title' was sent but the SIS holds 'Kept title'"
        ]
        assert await client.read_back("lineItem", "li-2", new) == ["the SIS has no lineItem li-2 (GET answered 404)"]


async def test_an_html_token_endpoint_names_the_district_and_the_next_step(make_client: Make, sim: Sis) -> None:
    sim.faults(html_token=True)
    async with make_client() as client:
        with pytest.raises(UnexpectedAnswer) as caught:
            await client.categories()
        with pytest.raises(UnexpectedAnswer):
            await client.categories()  # remembered: one token request per run
    text = str(caught.value)
    assert "token endpoint" in text and "district d1" in text and "HTML page" in text
    assert "passback district show d1" in text and "--token-url" in text
    assert [r["status"] for r in sim.requests("d1") if r["path"].endswith("/oauth/token")] == [200]


async def test_echoed_credentials_never_reach_an_error(make_client: Make, sim: Sis) -> None:
    sim.faults(echo_credentials=True)
    async with make_client() as client:
        with pytest.raises(CredentialsRejected) as caught:
            await client.categories()
    text = everything_shown(caught.value)
    assert "invalid_client" in text and "rotate" in text  # the SIS's words are still shown, redacted
    for form in secret_forms(SECRETS["d1"], "otus-d1"):
        assert form not in text
    assert exception_chain(caught.value) == [caught.value]  # no exception chain at all


async def test_a_dripping_answer_ends_at_the_request_deadline(make_client: Make, sim: Sis) -> None:
    async with make_client(deadline_s=1.0) as client:
        await client.categories()  # the token first: the token endpoint never drips
        sim.faults(drip_rate=1.0, drip_interval_s=0.3)
        started = time.monotonic()
        with pytest.raises(BoundExceeded) as caught:
            await client.categories()
        spent = time.monotonic() - started
    assert spent < 2.0  # one attempt, cut at the 1 s deadline (httpx's per-read timeout would never fire)
    text = str(caught.value)
    assert "district d1" in text and "1 s deadline" in text and "--timeout" in text
    assert not caught.value.retriable


async def test_an_oversized_answer_stops_at_the_size_limit(make_client: Make, sim: Sis) -> None:
    async with make_client(max_response_bytes=2**20) as client:
        await client.categories()
        sim.faults(oversize_rate=1.0, oversize_mb=16)
        with pytest.raises(BoundExceeded) as caught:
            await client.categories()
    assert "larger than the 1 MB limit" in str(caught.value) and "district d1" in str(caught.value)


@pytest.mark.parametrize(
    ("knob", "said"), [("endless_next_links", "100 pages"), ("lying_total_count", "lying X-Total-Count")]
)
async def test_paging_that_never_ends_stops_with_a_clear_error(
    make_client: Make, sim: Sis, knob: str, said: str
) -> None:
    sim.faults(**{knob: True})
    async with make_client() as client:
        with pytest.raises(PaginationError) as caught:
            await client.grading_periods()
    assert said in str(caught.value) and "district d1" in str(caught.value)
    assert len([r for r in sim.requests("d1") if r["method"] == "GET"]) <= 100


async def test_a_time_budget_bounds_a_group_of_reads(make_client: Make, sim: Sis) -> None:
    async with make_client() as client:
        await client.categories()
        sim.faults(latency_ms=300)
        started = time.monotonic()
        with pytest.raises(BoundExceeded) as caught:
            async with client.time_budget(0.5, "the pre-flight reads"):
                for _ in range(5):
                    await client.categories()
        assert time.monotonic() - started < 1.0
    assert "the pre-flight reads for district d1" in str(caught.value) and "0.5 s" in str(caught.value)


async def test_control_characters_in_a_refusal_are_neutralised(make_client: Make, sim: Sis) -> None:
    sim.faults(control_chars=True)
    async with make_client() as client:
        refused = await client.put_line_item("li-1", line_item("li-1", title="x" * 60))
    assert refused.rejection is not None
    description = refused.rejection.description or ""
    assert "skyward.title_too_long" in description
    assert "\x1b" not in description and "\x07" not in description and "\\x1b[2J" in description


async def test_the_token_and_the_api_share_one_loop(make_client: Make, sim: Sis) -> None:
    """A 503 from the token endpoint is retried by the same loop, within the same budget."""
    sim.faults(error_rate=1.0)
    async with make_client() as client:
        with pytest.raises(TransientExhausted) as caught:
            await client.categories()
    token_calls = [r for r in sim.requests("d1") if r["path"].endswith("/oauth/token")]
    assert len(token_calls) == client.retry.max_attempts and caught.value.retriable
    assert "the token request to 127.0.0.1" in str(caught.value) and "district d1" in str(caught.value)
