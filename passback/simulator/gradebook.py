"""Gradebook writes: ``PUT``/``DELETE`` of ``lineItems`` and ``results`` (create 201, replace 200,
delete 204, unknown 404, refusals 403/422).  Checks run in a fixed order: token and scope, the
district's licence, the body's shape, its references, then Skyward's rules (``rules``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from passback.simulator.auth import GRADEBOOK_DELETE, GRADEBOOK_PUT
from passback.simulator.errors import ApiError, invalid, json_response, unknown_object
from passback.simulator.roster import GRADEBOOK_ITEMS
from passback.simulator.rules import (
    check_line_item,
    check_result,
    parse_line_item,
    parse_result,
    render_line_item,
    render_result,
)
from passback.simulator.schema import API_PREFIX
from passback.simulator.state import authorize
from passback.simulator.store import Store

LICENCE = (
    "skyward.not_licensed: this district has no Skyward LMS/OneRoster API licence; without it the "
    "OneRoster API is read-only (no gradebook writes)"
)


def _licensed(store: Store, tenant: str) -> None:
    if not store.settings(tenant).get("licensed", True):
        raise ApiError(403, "forbidden", LICENCE)


def _closed(store: Store, tenant: str, period_id: str | None, what: str) -> None:
    if period_id and any(p.sourced_id == period_id and p.closed for p in store.periods(tenant)):
        raise invalid(
            "skyward.grading_period_closed",
            f"{what} is in grading period {period_id!r}, which is closed: "
            "no gradebook writes into a closed grading period",
        )


def apply_put(store: Store, tenant: str, kind: str, sid: str, body: bytes) -> tuple[dict[str, Any], bool]:
    """One PUT after its token was accepted: licence, shape, references and rules checked, the object
    stored.  Returns (the stored object, created); raises ApiError when refused.  ``kind``: lineItem
    or result.  (``bench/synced.py`` calls it to fill a simulator database without HTTP.)"""
    _licensed(store, tenant)
    if kind == "lineItem":
        item = parse_line_item(body, sid)
        period_id = check_line_item(store, tenant, item)
        obj = render_line_item(tenant, item, period_id)
        return obj, store.put_line_item(tenant, sid, item.class_id, period_id, obj)
    result = parse_result(body, sid)
    class_id = check_result(store, tenant, result)
    obj = render_result(tenant, result)
    return obj, store.put_result(tenant, sid, result.line_item_id, class_id, obj)


async def put_line_item(request: Request) -> Response:
    sim, tenant, _ = authorize(request, GRADEBOOK_PUT)
    obj, created = apply_put(sim.store, tenant, "lineItem", request.path_params["id"], await request.body())
    return json_response({"lineItem": obj}, 201 if created else 200)


async def put_result(request: Request) -> Response:
    sim, tenant, _ = authorize(request, GRADEBOOK_PUT)
    obj, created = apply_put(sim.store, tenant, "result", request.path_params["id"], await request.body())
    return json_response({"result": obj}, 201 if created else 200)


async def delete_line_item(request: Request) -> Response:
    sim, tenant, _ = authorize(request, GRADEBOOK_DELETE)
    _licensed(sim.store, tenant)
    sid = request.path_params["id"]
    stored = sim.store.line_item(tenant, sid)
    if stored is None:
        raise unknown_object("lineItem", sid)
    _closed(sim.store, tenant, stored[1], f"lineItem {sid!r}")
    sim.store.delete_line_item(tenant, sid)
    return Response(status_code=204)


async def delete_result(request: Request) -> Response:
    sim, tenant, _ = authorize(request, GRADEBOOK_DELETE)
    _licensed(sim.store, tenant)
    sid = request.path_params["id"]
    stored = sim.store.result(tenant, sid)
    if stored is None:
        raise unknown_object("result", sid)
    parent = sim.store.line_item(tenant, stored[0])
    _closed(sim.store, tenant, parent[1] if parent else None, f"result {sid!r}")
    sim.store.delete_result(tenant, sid)
    return Response(status_code=204)


def register(app: FastAPI) -> None:
    base = "/{tenant}" + API_PREFIX
    reads = dict(GRADEBOOK_ITEMS)
    for path, put, delete in (
        ("/lineItems/{id}", put_line_item, delete_line_item),
        ("/results/{id}", put_result, delete_result),
    ):
        app.add_route(base + path, reads[path], methods=["GET"])
        app.add_route(base + path, put, methods=["PUT"])
        app.add_route(base + path, delete, methods=["DELETE"])
