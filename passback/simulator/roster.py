"""Read endpoints: rostering (academicSessions, classes, users, enrollments, orgs) and gradebook
reads (categories, lineItems, results), all served from SQLite by the table below."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from passback.simulator import hostile
from passback.simulator.auth import GRADEBOOK_READ, ROSTER_READ
from passback.simulator.errors import json_response, unknown_object
from passback.simulator.query import parse_query, select_fields
from passback.simulator.schema import API_PREFIX
from passback.simulator.state import SimState, authorize

Endpoint = Callable[[Request], Awaitable[Response]]
ENROLLED = "sid IN (SELECT user_id FROM enrollment WHERE tenant=?1 AND class_id=?2 AND role='{role}')"


@dataclass(frozen=True)
class Source:
    """Where a resource lives: its table and the SQL that narrows it (``?1`` = tenant, ``?2``... = path params)."""

    kind: str
    table: str
    where: str = ""
    scope: tuple[str, ...] = ROSTER_READ

    def clause(self) -> str:
        kind = f" AND kind='{self.kind}'" if self.table == "roster" else ""
        return f"tenant=?1{kind}" + (f" AND {self.where}" if self.where else "")


# (path param, kind) pairs that must exist, else 404
Parents = tuple[tuple[str, str], ...]


def _exists(sim: SimState, tenant: str, kind: str, sid: str) -> bool:
    if kind == "lineItem":
        return sim.store.line_item(tenant, sid) is not None
    k1 = sim.store.roster_k1(tenant, "academicSession" if kind in ("term", "gradingPeriod") else kind, sid)
    return k1 is not None and (kind not in ("term", "gradingPeriod") or k1 == kind)


def collection(src: Source, envelope: str, params: tuple[str, ...] = (), parents: Parents = ()) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        sim, tenant, _ = authorize(request, src.scope)
        args = [request.path_params[p] for p in params]
        for name, kind in parents:
            if not _exists(sim, tenant, kind, request.path_params[name]):
                raise unknown_object(kind, request.path_params[name])
        q = parse_query(src.kind, request.query_params)
        where = src.clause() + (f" AND {q.where}" if q.where else "")
        # the base clause uses ?1 (tenant) and ?2.. (path params); SQLite numbers the filter's
        # anonymous ? after the largest ?N seen, so the parameters simply follow in order
        all_params = [tenant, *args, *q.params]
        total = sim.store.count(src.table, where, all_params)
        rows = sim.store.page(src.table, where, all_params, q.order, q.limit, q.offset) if q.offset < total else []
        faults = sim.faults.config
        if faults.endless_next_links or faults.lying_total_count:
            template = (
                rows[0] if rows else next(iter(sim.store.page(src.table, where, all_params, q.order, 1, 0)), None)
            )
            rows, headers = hostile.endless_page(
                request, rows, template, q.limit, q.offset, lying_total=faults.lying_total_count
            )
            return json_response({envelope: [select_fields(r, q.fields) for r in rows]}, headers=headers)
        headers = {"X-Total-Count": str(total)}
        link = _links(request, q.limit, q.offset, total)
        if link:
            headers["Link"] = link
        return json_response({envelope: [select_fields(r, q.fields) for r in rows]}, headers=headers)

    return endpoint


def _links(request: Request, limit: int, offset: int, total: int) -> str:
    url = request.url
    rels = []
    if offset + limit < total:
        rels.append((url.include_query_params(limit=limit, offset=offset + limit), "next"))
        last = ((total - 1) // limit) * limit
        rels.append((url.include_query_params(limit=limit, offset=last), "last"))
    if offset > 0:
        rels.append((url.include_query_params(limit=limit, offset=max(0, offset - limit)), "prev"))
        rels.append((url.include_query_params(limit=limit, offset=0), "first"))
    return ", ".join(f'<{u}>; rel="{rel}"' for u, rel in rels)


def single(src: Source, envelope: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        sim, tenant, _ = authorize(request, src.scope)
        sid = request.path_params["id"]
        q = parse_query(src.kind, request.query_params, paged=False)
        row = sim.store.db.execute(
            f"SELECT data FROM {src.table} WHERE {src.clause()} AND sid=?2", (tenant, sid)
        ).fetchone()
        if row is None:
            raise unknown_object(envelope, sid)
        return json_response({envelope: select_fields(json.loads(row[0]), q.fields)})

    return endpoint


SESSIONS = Source("academicSession", "roster")
PERIODS = Source("academicSession", "roster", "k1='gradingPeriod'")
TERMS = Source("academicSession", "roster", "k1='term'")
ORGS = Source("org", "roster")
SCHOOLS = Source("org", "roster", "k1='school'")
CLASSES = Source("class", "roster")
USERS = Source("user", "roster")
STUDENTS = Source("user", "roster", "k1='student'")
TEACHERS = Source("user", "roster", "k1='teacher'")
ENROLLMENTS = Source("enrollment", "enrollment")
CATEGORIES = Source("category", "roster", scope=GRADEBOOK_READ)
LINE_ITEMS = Source("lineItem", "line_item", scope=GRADEBOOK_READ)
RESULTS = Source("result", "result", scope=GRADEBOOK_READ)

ROUTES: list[tuple[str, Endpoint]] = [
    ("/academicSessions", collection(SESSIONS, "academicSessions")),
    ("/academicSessions/{id}", single(SESSIONS, "academicSession")),
    ("/gradingPeriods", collection(PERIODS, "academicSessions")),
    ("/gradingPeriods/{id}", single(PERIODS, "academicSession")),
    ("/terms", collection(TERMS, "academicSessions")),
    ("/terms/{id}", single(TERMS, "academicSession")),
    (
        "/terms/{id}/gradingPeriods",
        collection(
            Source("academicSession", "roster", "k1='gradingPeriod' AND k2=?2"),
            "academicSessions",
            ("id",),
            (("id", "term"),),
        ),
    ),
    ("/orgs", collection(ORGS, "orgs")),
    ("/orgs/{id}", single(ORGS, "org")),
    ("/schools", collection(SCHOOLS, "orgs")),
    ("/schools/{id}", single(SCHOOLS, "org")),
    ("/classes", collection(CLASSES, "classes")),
    ("/classes/{id}", single(CLASSES, "class")),
    (
        "/classes/{id}/students",
        collection(Source("user", "roster", ENROLLED.format(role="student")), "users", ("id",), (("id", "class"),)),
    ),
    (
        "/classes/{id}/teachers",
        collection(Source("user", "roster", ENROLLED.format(role="teacher")), "users", ("id",), (("id", "class"),)),
    ),
    ("/users", collection(USERS, "users")),
    ("/users/{id}", single(USERS, "user")),
    ("/students", collection(STUDENTS, "users")),
    ("/students/{id}", single(STUDENTS, "user")),
    ("/teachers", collection(TEACHERS, "users")),
    ("/teachers/{id}", single(TEACHERS, "user")),
    ("/enrollments", collection(ENROLLMENTS, "enrollments")),
    ("/enrollments/{id}", single(ENROLLMENTS, "enrollment")),
    ("/categories", collection(CATEGORIES, "categories")),
    ("/categories/{id}", single(CATEGORIES, "category")),
    ("/lineItems", collection(LINE_ITEMS, "lineItems")),
    ("/results", collection(RESULTS, "results")),
    (
        "/classes/{id}/lineItems",
        collection(
            Source("lineItem", "line_item", "class_id=?2", GRADEBOOK_READ), "lineItems", ("id",), (("id", "class"),)
        ),
    ),
    (
        "/classes/{id}/results",
        collection(Source("result", "result", "class_id=?2", GRADEBOOK_READ), "results", ("id",), (("id", "class"),)),
    ),
    (
        "/classes/{id}/lineItems/{lid}/results",
        collection(
            Source("result", "result", "class_id=?2 AND line_item_id=?3", GRADEBOOK_READ),
            "results",
            ("id", "lid"),
            (("id", "class"), ("lid", "lineItem")),
        ),
    ),
    (
        "/classes/{id}/students/{sid}/results",
        collection(
            Source("result", "result", "class_id=?2 AND json_extract(data, '$.student.sourcedId')=?3", GRADEBOOK_READ),
            "results",
            ("id", "sid"),
            (("id", "class"), ("sid", "user")),
        ),
    ),
]

GRADEBOOK_ITEMS: list[tuple[str, Endpoint]] = [
    ("/lineItems/{id}", single(LINE_ITEMS, "lineItem")),
    ("/results/{id}", single(RESULTS, "result")),
]


def register(app: FastAPI) -> None:
    for path, endpoint in ROUTES:
        app.add_route("/{tenant}" + API_PREFIX + path, endpoint, methods=["GET"])
