"""Bad input: the shared machinery of ``test_bad_input_*.py`` — an independent oracle of the rules
(PRODUCT.md written out row by row), Hypothesis strategies for frames, contexts and raw values, a raw
SQLite source writer (whatever bytes a foreign database may hold) and the payload checks."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import strategies as st

from passback.domain.codes import OTUS_TYPES
from passback.domain.context import grading_period_frame, local_now
from passback.domain.payloads import line_item_payload, result_payload
from tests.factory import MAPPING, PERIODS, context, world

IDS = [f"a-{i}" for i in range(6)]
STUDENTS = ["u-s1", "u-s2", "u-s3", "u-blank", "u-zz"]
ZONES = [
    "America/Chicago",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "UTC",
]
# instants around the 2026-27 DST changes (US, EU, southern hemisphere) and the periods' edges
DST_INSTANTS = [
    dt.datetime(2026, 11, 1, 7, 0),
    dt.datetime(2026, 10, 25, 1, 0),
    dt.datetime(2027, 3, 14, 8, 0),
    dt.datetime(2027, 3, 28, 1, 0),
    dt.datetime(2027, 4, 4, 2, 0),
    dt.datetime(2026, 10, 4, 15, 0),
    dt.datetime(2026, 10, 17, 5, 30),
    dt.datetime(2026, 12, 19, 5, 59),
]
PERIOD_BOUNDS = {
    p["sourced_id"]: (dt.date.fromisoformat(p["start_date"]), dt.date.fromisoformat(p["end_date"])) for p in PERIODS
}
PERIOD_SIS = {"sky-c1"}


def _users() -> pd.DataFrame:
    base = world().users
    extra = pd.DataFrame(
        [
            {
                "id": "u-blank",
                "district_id": "d1",
                "sis_id": "   ",
                "role": "student",
                "given_name": "B",
                "family_name": "Lank",
            }
        ]
    )
    return pd.concat([base, extra], ignore_index=True)


def _classes() -> pd.DataFrame:
    base = world().classes
    extra = pd.DataFrame([{"id": "c-3", "district_id": "d1", "sis_id": "", "title": "blank sis id"}])
    return pd.concat([base, extra], ignore_index=True)


USERS, CLASSES = _users(), _classes()


def sometimes(draw: Any, valid: Any, weird: st.SearchStrategy[Any]) -> Any:
    """``valid`` most of the time, else a draw from ``weird`` (so eligible rows stay common)."""
    return draw(weird) if draw(st.integers(0, 8)) == 0 else valid


weird_titles = st.one_of(
    st.sampled_from(
        [
            None,
            "",
            "   ",
            "\t\n\u3000",
            "x" * 50,
            " " + "y" * 49 + " ",
            "z" * 10_000,
            "e\u0301" * 25,
            "\U0001f9ea" * 49,
            "\U0001f9ea" * 50,
            "Quiz \ufffd\ufffd",
            "NUL\x00inside",
        ]
    ),
    st.text(max_size=70),
)
weird_points = st.one_of(
    st.sampled_from([None, math.nan, math.inf, -math.inf, 0.0, -5.0, 10.5, 1e-9, 1e300, 2.0**53]), st.floats()
)
any_day = st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)).map(pd.Timestamp)
weird_days = st.one_of(
    st.none(),
    any_day,
    st.sampled_from(
        [pd.Timestamp("2026-11-01"), pd.Timestamp("2027-03-14"), pd.Timestamp("2099-01-01"), pd.Timestamp("1970-01-01")]
    ),
)


@st.composite
def assessment_rows(draw: Any) -> dict[str, Any]:
    period = draw(st.sampled_from(PERIODS))
    start, end = PERIOD_BOUNDS[period["sourced_id"]]
    assign = draw(st.dates(start, end))
    due = draw(st.dates(assign, end))
    return {
        "id": sometimes(draw, draw(st.sampled_from(IDS)), st.sampled_from([None, "", "a-" + "9" * 300])),
        "district_id": "d1",
        "class_id": sometimes(draw, "c-1", st.sampled_from([None, "c-2", "c-3", "c-zz"])),
        "assigned_by": sometimes(draw, "u-t1", st.sampled_from([None, "u-t2", "u-adm", "u-blank", "u-zz"])),
        "title": sometimes(
            draw, draw(st.sampled_from(["Quiz 1", "Lab", "q" * 49, "  padded  ", "Ünïcödé ✓"])), weird_titles
        ),
        "assessment_type": sometimes(
            draw,
            draw(st.sampled_from(OTUS_TYPES)),
            st.one_of(st.sampled_from([None, "", "quiz", "Essay"]), st.text(max_size=8)),
        ),
        "scoring": sometimes(draw, "points", st.sampled_from([None, "", "standards", "rubric", "Points"])),
        "points_possible": sometimes(draw, float(draw(st.integers(1, 200))), weird_points),
        "include_in_final_grade": sometimes(draw, True, st.sampled_from([False, None])),
        "assign_date": sometimes(draw, pd.Timestamp(assign), weird_days),
        "due_date": sometimes(draw, pd.Timestamp(due), weird_days),
        "status": sometimes(draw, "active", st.sampled_from([None, "", "deleted", "Active"])),
        "updated_at": pd.Timestamp("2026-11-10 12:00"),
    }


@st.composite
def score_rows(draw: Any, ids: list[str]) -> dict[str, Any]:
    return {
        "assessment_id": sometimes(draw, draw(st.sampled_from(ids)), st.sampled_from([None, "a-zz", *IDS])),
        "student_id": sometimes(draw, draw(st.sampled_from(["u-s1", "u-s2"])), st.sampled_from(STUDENTS)),
        "points_earned": sometimes(draw, draw(st.floats(0, 120, allow_nan=False)), weird_points),
        "state": sometimes(
            draw,
            draw(st.sampled_from(["graded", "graded", "not_submitted"])),
            st.sampled_from([None, "", "turned_in", "Graded", "not_submitted"]),
        ),
        "excluded": sometimes(draw, False, st.sampled_from([True, None])),
        "updated_at": draw(st.sampled_from([pd.Timestamp("2026-11-10 12:00"), pd.NaT])),
    }


@st.composite
def sources(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Assessment rows, then score rows mostly of those assessments (several per assessment)."""
    assessments = draw(st.lists(assessment_rows(), min_size=1, max_size=10))
    ids = [a["id"] for a in assessments if isinstance(a["id"], str)] or IDS
    return assessments, draw(st.lists(score_rows(ids), max_size=30))


@st.composite
def contexts(draw: Any) -> tuple[Any, dt.datetime]:
    zone = draw(st.sampled_from(ZONES))
    instant = draw(
        st.one_of(
            st.sampled_from(DST_INSTANTS).flatmap(
                lambda t: st.integers(-180, 180).map(lambda m: t + dt.timedelta(minutes=m))
            ),
            st.datetimes(dt.datetime(2026, 8, 1), dt.datetime(2027, 6, 30)),
        )
    )
    utc_now = instant.replace(tzinfo=dt.UTC)
    mapping = sometimes(
        draw,
        dict(MAPPING),
        st.one_of(
            st.just({}),
            st.dictionaries(
                st.sampled_from(OTUS_TYPES), st.sampled_from([*MAPPING.values(), "cat-inactive", "cat-zz"]), max_size=12
            ),
        ),
    )
    ctx = context(
        timezone=zone,
        now_local=local_now(zone, utc_now),
        mapping=mapping,
        effective_date=sometimes(draw, dt.date(2026, 8, 17), st.dates(dt.date(2026, 6, 1), dt.date(2027, 12, 31))),
        closed_periods=sometimes(
            draw, frozenset({"gp-q1"}), st.sets(st.sampled_from([p["sourced_id"] for p in PERIODS])).map(frozenset)
        ),
        grace_hours=draw(st.sampled_from([0.0, 0.5, 6.0, 24.0, 1000.0])),
        grading_periods=grading_period_frame(PERIODS),
    )
    return ctx, utc_now


PLAIN_UTC_NOW = dt.datetime(2026, 11, 18, 16, 0, tzinfo=dt.UTC)  # 10:00 in Chicago, the factory's "today"
PLAIN_CONTEXT = (context(now_local=local_now("America/Chicago", PLAIN_UTC_NOW)), PLAIN_UTC_NOW)


# -- the oracle: the rules of PRODUCT.md written out row by row, independently of derive/GX ---------
def _sis(frame: pd.DataFrame) -> dict[str, str]:
    out: dict[str, str] = {}
    for rid, sis in zip(frame["id"], frame["sis_id"], strict=True):
        if rid not in out:
            out[rid] = sis.strip() if isinstance(sis, str) and sis.strip() else None
    return out


def _period(day: Any) -> str | None:
    if day is None or pd.isna(day):
        return None
    d = pd.Timestamp(day).date()
    return next((gp for gp, (a, b) in PERIOD_BOUNDS.items() if a <= d <= b), None)


def _text_or_none(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def oracle(
    assessments: list[dict[str, Any]], scores: list[dict[str, Any]], group: list[str], ctx: Any, utc_now: dt.datetime
) -> tuple[list[str | None], list[str | None]]:
    class_sis, user_sis = _sis(CLASSES), _sis(USERS)
    now_local = utc_now.astimezone(ZoneInfo(ctx.timezone)).replace(tzinfo=None)
    seen: set[str] = set()
    firsts: dict[str, int] = {}
    pre: list[str | None] = []  # every assessment reason except nothing_to_send
    for i, a in enumerate(assessments):
        aid = _text_or_none(a["id"])
        dup = aid is None or aid in seen
        if aid is not None and not dup:
            seen.add(aid)
            firsts[aid] = i
        title = _text_or_none(a["title"])
        length = len(title.strip()) if title is not None else 0
        points = a["points_possible"]
        points_ok = points is not None and math.isfinite(points) and points > 0 and math.floor(points) == points
        assign, due = a["assign_date"], a["due_date"]
        has_dates = assign is not None and not pd.isna(assign) and due is not None and not pd.isna(due)
        gp_a, gp_d = _period(assign), _period(due)
        category = ctx.mapping.get(a["assessment_type"]) if isinstance(a["assessment_type"], str) else None
        rules = [
            ("duplicate_row", dup),
            ("assessment_deleted", a["status"] != "active"),
            ("not_points_based", a["scoring"] != "points"),
            ("points_not_whole", not points_ok),
            ("title_missing", length == 0),
            ("title_too_long", length > 49),
            ("not_in_final_grade", a["include_in_final_grade"] is not True),
            ("class_not_in_sis", class_sis.get(a["class_id"]) is None),
            ("assigner_not_in_sis", user_sis.get(a["assigned_by"]) is None),
            ("assigner_not_in_group", a["assigned_by"] not in group),
            ("missing_dates", not has_dates),
            ("due_before_assign", has_dates and due < assign),
            (
                "before_effective_date",
                assign is not None and not pd.isna(assign) and assign.date() < ctx.effective_date,
            ),
            ("outside_grading_periods", gp_a is None or gp_d is None),
            ("straddles_grading_periods", gp_a != gp_d),
            ("grading_period_closed", gp_a in ctx.closed_periods or gp_d in ctx.closed_periods),
            ("category_unmapped", category is None),
            ("category_not_in_sis", category not in ctx.active_categories),
        ]
        pre.append(next((code for code, broken in rules if broken), None))

    seen_pairs: set[tuple[Any, Any]] = set()
    own: list[str | None] = []  # each score's own first reason (before its assessment is considered)
    for s in scores:
        pair = (_text_or_none(s["assessment_id"]), _text_or_none(s["student_id"]))
        dup = pair in seen_pairs
        seen_pairs.add(pair)
        parent = firsts.get(pair[0]) if pair[0] is not None else None
        due = assessments[parent]["due_date"] if parent is not None else None
        past_due = (
            due is not None
            and not pd.isna(due)
            and pd.Timestamp(due) + pd.Timedelta(days=1) + pd.Timedelta(hours=ctx.grace_hours)
            <= pd.Timestamp(now_local)
        )
        points = s["points_earned"]
        points_ok = points is not None and math.isfinite(points) and points >= 0
        state = s["state"]
        rules = [
            ("duplicate_row", dup),
            ("unknown_assessment", parent is None),
            ("score_excluded", s["excluded"] is True),  # NULL: not excluded (docs/DESIGN.md: NA -> False)
            ("student_not_in_sis", user_sis.get(s["student_id"]) is None),
            ("not_yet_graded", state == "turned_in"),
            ("not_yet_due", state == "not_submitted" and not past_due),
            ("score_invalid", state not in ("graded", "not_submitted") or (state == "graded" and not points_ok)),
        ]
        own.append(next((code for code, broken in rules if broken), None))

    sendable = {_text_or_none(s["assessment_id"]) for s, r in zip(scores, own, strict=True) if r is None}
    a_reasons = [
        r if r is not None else (None if _text_or_none(a["id"]) in sendable else "nothing_to_send")
        for a, r in zip(assessments, pre, strict=True)
    ]
    s_reasons: list[str | None] = []
    for s, r in zip(scores, own, strict=True):
        parent = firsts.get(_text_or_none(s["assessment_id"]) or "")
        blocked = parent is not None and a_reasons[parent] not in (None, "nothing_to_send")
        s_reasons.append("assessment_ineligible" if blocked and r not in ("duplicate_row", "unknown_assessment") else r)
    return a_reasons, s_reasons


def _as_list(series: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else str(v) for v in series]


def assert_payloads_acceptable(ev: Any, ctx: Any) -> None:
    """Every planned write is one the SIS accepts (Skyward's rules, checked on the payload itself)."""
    sent_items: set[str] = set()
    for row in ev.plan.line_item_writes.itertuples(index=False):
        sid, body = line_item_payload("d1", row)
        li = body["lineItem"]
        title = li["title"]
        assert isinstance(title, str) and 1 <= len(title.strip()) <= 49, title[:80]
        vmax = li["resultValueMax"]
        assert math.isfinite(vmax) and vmax > 0 and float(vmax).is_integer(), vmax
        assign, due = dt.date.fromisoformat(li["assignDate"][:10]), dt.date.fromisoformat(li["dueDate"][:10])
        gp = _period(pd.Timestamp(assign))
        assert gp is not None and gp == _period(pd.Timestamp(due)) == li["gradingPeriod"]["sourcedId"]
        assert gp not in ctx.closed_periods and assign <= due
        assert li["category"]["sourcedId"] in ctx.active_categories
        assert li["class"]["sourcedId"] in PERIOD_SIS
        sent_items.add(sid)
    for row in ev.plan.result_writes.itertuples(index=False):
        _, body = result_payload("d1", row)
        r = body["result"]
        assert r["lineItem"]["sourcedId"] in sent_items
        assert math.isfinite(r["score"]) and r["score"] >= 0, r["score"]
        assert r["student"]["sourcedId"] in {"sky-s1", "sky-s2"}
        assert r["scoreStatus"] == "fully graded"


RAW_SCHEMA = {  # the contract's tables and columns, without primary keys (duplicates are possible)
    "otus_users": "id VARCHAR, district_id VARCHAR, sis_id VARCHAR, role VARCHAR, given_name VARCHAR, family_name VARCHAR",
    "otus_classes": "id VARCHAR, district_id VARCHAR, sis_id VARCHAR, title VARCHAR",
    "otus_enrollments": "class_id VARCHAR, user_id VARCHAR, role VARCHAR",
    "otus_assessments": "id VARCHAR, district_id VARCHAR, class_id VARCHAR, assigned_by VARCHAR, title VARCHAR, "
    "assessment_type VARCHAR, scoring VARCHAR, points_possible FLOAT, include_in_final_grade BOOLEAN, "
    "assign_date DATE, due_date DATE, status VARCHAR, updated_at DATETIME",
    "otus_scores": "assessment_id VARCHAR, student_id VARCHAR, points_earned FLOAT, state VARCHAR, excluded BOOLEAN, "
    "updated_at DATETIME",
    "otus_group_members": "district_id VARCHAR, user_id VARCHAR",
}


class Blob(bytes):
    """Stored as a BLOB (plain ``bytes`` are stored as TEXT holding those bytes, UTF-8 or not)."""


def write_raw_source(path: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Create the source tables (no constraints) and insert the rows exactly as given: ``bytes`` go in
    as TEXT values holding those bytes (``CAST(? AS TEXT)``: not necessarily UTF-8), ``Blob`` as BLOBs."""
    conn = sqlite3.connect(path)
    try:
        for table, columns in RAW_SCHEMA.items():
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} ({columns})")
        for table, table_rows in rows.items():
            for row in table_rows:
                names = list(row)
                marks = ", ".join("CAST(? AS TEXT)" if type(row[n]) is bytes else "?" for n in names)
                values = [sqlite3.Binary(v) if isinstance(v, Blob) else v for v in row.values()]
                conn.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", values)
        conn.commit()
    finally:
        conn.close()


def base_rows() -> dict[str, list[dict[str, Any]]]:
    """The factory world's users, classes, enrollments and group as plain rows."""
    w = world(group=["u-t1"])

    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")
        ]

    return {
        "otus_users": records(w.users),
        "otus_classes": records(w.classes),
        "otus_enrollments": records(w.enrollments),
        "otus_group_members": records(w.group_members),
    }
