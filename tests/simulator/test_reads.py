"""Rostering and gradebook reads: envelopes, object shapes, pagination, filter, sort, fields."""

from __future__ import annotations

import httpx
import pytest

from tests.simulator.helpers import Api, line_item, result, status_of


async def ids(api: Api, path: str, **params: str) -> list[str]:
    r = await api.get(path, **params)
    assert r.status_code == 200, r.text
    (rows,) = r.json().values()
    return [row["sourcedId"] for row in rows]


@pytest.mark.parametrize(
    ("path", "envelope", "expected"),
    [
        ("/academicSessions", "academicSessions", ["gp-q1", "gp-q2", "gp-q3", "sy-2027", "term-1"]),
        ("/gradingPeriods", "academicSessions", ["gp-q1", "gp-q2", "gp-q3"]),
        ("/terms", "academicSessions", ["term-1"]),
        ("/terms/term-1/gradingPeriods", "academicSessions", ["gp-q1", "gp-q2", "gp-q3"]),
        ("/classes", "classes", ["c1", "c2"]),
        ("/classes/c1/students", "users", ["s1", "s2"]),
        ("/classes/c1/teachers", "users", ["t1", "t2"]),
        ("/users", "users", ["s1", "s2", "s3", "s4", "t1", "t2"]),
        ("/students", "users", ["s1", "s2", "s3", "s4"]),
        ("/teachers", "users", ["t1", "t2"]),
        ("/enrollments", "enrollments", ["e-c1-s1", "e-c1-s2", "e-c1-t1", "e-c1-t2", "e-c2-s3", "e-c2-t2"]),
        ("/categories", "categories", ["cat-old", "cat-quiz", "cat-school", "cat-test"]),
        ("/schools", "orgs", ["sch-1"]),
        ("/orgs", "orgs", ["org-1", "sch-1"]),
    ],
)
async def test_collections_have_their_envelope_and_rows(
    api: Api, path: str, envelope: str, expected: list[str]
) -> None:
    r = await api.get(path)
    assert r.status_code == 200
    assert list(r.json()) == [envelope]
    assert [o["sourcedId"] for o in r.json()[envelope]] == expected
    assert r.headers["x-total-count"] == str(len(expected))


@pytest.mark.parametrize(
    ("path", "envelope"),
    [
        ("/academicSessions/term-1", "academicSession"),
        ("/gradingPeriods/gp-q2", "academicSession"),
        ("/terms/term-1", "academicSession"),
        ("/classes/c1", "class"),
        ("/users/s1", "user"),
        ("/students/s1", "user"),
        ("/teachers/t1", "user"),
        ("/enrollments/e-c1-s1", "enrollment"),
        ("/categories/cat-quiz", "category"),
        ("/schools/sch-1", "org"),
        ("/orgs/org-1", "org"),
    ],
)
async def test_single_objects_have_their_envelope(api: Api, path: str, envelope: str) -> None:
    r = await api.get(path)
    assert r.status_code == 200 and list(r.json()) == [envelope]
    assert r.json()[envelope]["sourcedId"] == path.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    "path",
    [
        "/classes/nope",
        "/gradingPeriods/term-1",
        "/students/t1",
        "/lineItems/nope",
        "/results/nope",
        "/classes/nope/students",
        "/terms/gp-q1/gradingPeriods",
        "/classes/c1/lineItems/nope/results",
        "/nothing-here",
    ],
)
async def test_unknown_objects_are_404_unknownobject(api: Api, path: str) -> None:
    r = await api.get(path)
    assert r.status_code == 404 and status_of(r)["imsx_codeMinor"] == "unknownobject"


async def test_object_shapes_follow_oneroster_1_1(api: Api) -> None:
    gp = (await api.get("/gradingPeriods/gp-q1")).json()["academicSession"]
    assert {k: gp[k] for k in ("title", "type", "startDate", "endDate", "schoolYear", "status")} == {
        "title": "Q1",
        "type": "gradingPeriod",
        "startDate": "2026-08-17",
        "endDate": "2026-10-16",
        "schoolYear": "2027",
        "status": "active",
    }
    assert (
        gp["parent"]["sourcedId"] == "term-1" and gp["parent"]["type"] == "academicSession" and "href" in gp["parent"]
    )
    assert gp["metadata"] == {"skyward.gradingPeriodClosed": True} and gp["dateLastModified"].endswith("Z")
    cats = {c["sourcedId"]: c for c in (await api.get("/categories")).json()["categories"]}
    assert cats["cat-school"]["metadata"]["skyward.districtLevel"] is False
    assert cats["cat-old"]["status"] == "tobedeleted" and cats["cat-quiz"]["title"] == "Quiz"
    enrollment = (await api.get("/enrollments/e-c1-s1")).json()["enrollment"]
    assert enrollment["user"]["sourcedId"] == "s1" and enrollment["class"]["sourcedId"] == "c1"
    assert enrollment["role"] == "student" and enrollment["school"]["sourcedId"] == "sch-1"
    cls = (await api.get("/classes/c1")).json()["class"]
    assert cls["terms"][0]["sourcedId"] == "term-1" and cls["school"]["sourcedId"] == "sch-1"


async def test_pagination_limit_offset_total_and_links(api: Api) -> None:
    r = await api.get("/users", limit="4")
    assert r.headers["x-total-count"] == "6" and len(r.json()["users"]) == 4
    assert 'rel="next"' in r.headers["link"] and "offset=4" in r.links["next"]["url"]
    r2 = await api.http.get(r.links["next"]["url"], headers=api.headers)
    assert [u["sourcedId"] for u in r2.json()["users"]] == ["t1", "t2"]
    assert "next" not in r2.links and "first" in r2.links  # the last page: no next link, the reader stops
    r3 = await api.get("/users", offset="6")
    assert r3.json()["users"] == [] and r3.headers["x-total-count"] == "6"
    r4 = await api.get("/users", limit="5000")  # capped at 1000
    assert len(r4.json()["users"]) == 6 and "link" not in r4.headers


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "x"}, {"offset": "-1"}])
async def test_bad_paging_is_400(api: Api, params: dict[str, str]) -> None:
    assert (await api.get("/users", **params)).status_code == 400


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("role='teacher'", ["t1", "t2"]),
        ("role!='student'", ["t1", "t2"]),
        ("givenName>'Student3'", ["s4"]),
        ("givenName>='Student3'", ["s3", "s4"]),
        ("givenName<'Bo'", ["t1"]),
        ("givenName<='Bo'", ["t1", "t2"]),
        ("givenName~'dent2'", ["s2"]),
        ("familyName~'TEACH'", ["t1", "t2"]),
        ("role='student' AND givenName~'1'", ["s1"]),
        ("givenName='Ada' OR givenName='Student4'", ["s4", "t1"]),
        ("role='teacher' AND givenName='Bo' OR sourcedId='s1'", ["s1", "t2"]),
        ("orgs='sch-1' AND sourcedId='s2'", ["s2"]),
        ("orgs.sourcedId='nope'", []),
        ("orgs!='sch-1'", []),
        ("familyName='O''Neil'", []),
    ],
)
async def test_filter_operators_and_logic(api: Api, flt: str, expected: list[str]) -> None:
    assert await ids(api, "/users", filter=flt) == expected


async def test_filters_on_references_dates_booleans_and_metadata(api: Api) -> None:
    assert await ids(api, "/academicSessions", filter="type='gradingPeriod' AND status='active'") == [
        "gp-q1",
        "gp-q2",
        "gp-q3",
    ]
    assert await ids(api, "/academicSessions", filter="parent='term-1' AND startDate>='2026-10-01'") == [
        "gp-q2",
        "gp-q3",
    ]
    assert await ids(api, "/enrollments", filter="class.sourcedId='c2'") == ["e-c2-s3", "e-c2-t2"]
    assert await ids(api, "/enrollments", filter="primary='true'") == ["e-c1-t1"]
    assert await ids(api, "/categories", filter="metadata.skyward.districtLevel='false'") == ["cat-school"]
    assert await ids(api, "/gradingPeriods", filter="metadata.skyward.gradingPeriodClosed='true'") == ["gp-q1"]
    r = await api.get("/users", filter="role='student'", limit="2")
    assert r.headers["x-total-count"] == "4" and "filter=role" in r.links["next"]["url"]


@pytest.mark.parametrize(
    ("flt", "minor"),
    [
        ("nonsense='x'", "invalid_filter_field"),
        ("role=teacher", "invalid_filter_field"),
        ("role='teacher' XOR role='student'", "invalid_filter_field"),
        ("role='teacher' AND", "invalid_filter_field"),
        ("role=='teacher'", "invalid_filter_field"),
        ("role.sub='x'", "invalid_filter_field"),
    ],
)
async def test_bad_filters_are_400(api: Api, flt: str, minor: str) -> None:
    r = await api.get("/users", filter=flt)
    assert r.status_code == 400
    info = status_of(r)
    assert info["imsx_codeMinor"] == minor and info["imsx_description"].startswith("oneroster.invalid_filter_field:")


async def test_number_filters_compare_numerically_and_refuse_text(api: Api) -> None:
    for title, points in (("Small", 5), ("Big", 100)):
        await api.put(f"/lineItems/li-{title}", line_item(title=title, resultValueMax=points))
    assert await ids(api, "/lineItems", filter="resultValueMax>'9'") == ["li-Big"]
    assert (await api.get("/lineItems", filter="resultValueMax>'many'")).status_code == 400


async def test_sort_and_order_by(api: Api) -> None:
    assert await ids(api, "/users", sort="givenName") == ["t1", "t2", "s1", "s2", "s3", "s4"]
    assert await ids(api, "/users", sort="givenName", orderBy="desc") == ["s4", "s3", "s2", "s1", "t2", "t1"]
    assert await ids(api, "/users", orderBy="desc") == ["t2", "t1", "s4", "s3", "s2", "s1"]
    assert await ids(api, "/users", sort="familyName,givenName", limit="2", offset="1") == ["s1", "s2"]
    assert await ids(api, "/enrollments", sort="class", filter="role='teacher'") == ["e-c1-t1", "e-c1-t2", "e-c2-t2"]
    for params in ({"sort": "nope"}, {"sort": "orgs"}, {"sort": "givenName", "orderBy": "sideways"}):
        r = await api.get("/users", **params)
        assert r.status_code == 400 and status_of(r)["imsx_codeMinor"] == "invalid_sort_field"


async def test_fields_selects_and_unknown_fields_are_400(api: Api) -> None:
    r = await api.get("/users", fields="sourcedId,givenName", limit="1")
    assert r.json()["users"] == [{"sourcedId": "s1", "givenName": "Student1"}]
    r = await api.get("/classes/c1", fields="title")
    assert r.json() == {"class": {"title": "Math 6"}}
    r = await api.get("/users", fields="sourcedId,password")
    assert r.status_code == 400 and status_of(r)["imsx_codeMinor"] == "invalid_selection_field"
    assert "'password'" in status_of(r)["imsx_description"]


async def test_gradebook_reads_and_class_sub_collections(api: Api) -> None:
    await api.put("/lineItems/li-1", line_item())
    await api.put("/lineItems/li-2", line_item(title="Other class", **{"class": {"sourcedId": "c2"}}))
    await api.put("/results/r-1", result())
    await api.put("/results/r-2", result(student={"sourcedId": "s2"}, score=3))
    await api.put("/results/r-3", result(lineItem={"sourcedId": "li-2"}, student={"sourcedId": "s3"}))
    assert await ids(api, "/lineItems") == ["li-1", "li-2"]
    assert await ids(api, "/classes/c2/lineItems") == ["li-2"]
    assert await ids(api, "/results", filter="score<'5'") == ["r-2"]
    assert await ids(api, "/results", filter="lineItem='li-1'", sort="score") == ["r-2", "r-1"]
    assert await ids(api, "/classes/c1/results") == ["r-1", "r-2"]
    assert await ids(api, "/classes/c1/lineItems/li-1/results") == ["r-1", "r-2"]
    assert await ids(api, "/classes/c2/lineItems/li-2/results") == ["r-3"]
    assert await ids(api, "/classes/c1/students/s2/results") == ["r-2"]
    r = await api.get("/results", limit="1")
    assert r.headers["x-total-count"] == "3" and "next" in r.links


async def test_tenants_see_only_their_own_data(http: httpx.AsyncClient, api: Api) -> None:
    from tests.simulator.helpers import get_token

    await api.put("/lineItems/li-1", line_item())
    d2 = Api(http, "d2", await get_token(http, "d2"))
    assert (await d2.get("/lineItems")).json()["lineItems"] == []
    assert (await d2.get("/lineItems/li-1")).status_code == 404
