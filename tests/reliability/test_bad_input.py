"""Bad input: the source contract, the configuration and the command line.

* Hypothesis over the evaluation (frames + context): every row leaves with exactly one reason or
  as eligible, the reason is the first rule that applies (an independent oracle), and every planned
  payload is one the SIS accepts.
* Hypothesis over a raw SQLite source (non-UTF-8 bytes, text in numeric columns, malformed dates):
  the reader and the rules never crash and still give every row exactly one outcome.
* End to end against the simulator: extreme rows and extreme configurations reach the SIS only
  as valid payloads (the SIS refuses nothing and stores nothing invalid).
* The CLI: each bad input is ONE line saying what to do (for ``doctor``: ONE failed check in its
  report; for ``sync``: the summary plus ONE error line), a non-zero exit, and an unchanged state DB.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from passback.domain.codes import ASSESSMENT_REASONS, OTUS_TYPES, SCORE_REASONS
from passback.domain.context import grading_period_frame, local_now
from passback.domain.payloads import line_item_payload, result_payload
from passback.scenario import Scenario
from passback.settings import get_settings
from passback.store import districts as store
from passback.sync.evaluate import evaluate
from tests.e2e.conftest import run_sync
from tests.factory import MAPPING, PERIODS, World, assessment, context, score, scenario_for, world
from tests.reliability._helpers2 import (
    Sim,
    closed_port,
    dump_tables,
    ledger_frame,
    prefect_api,  # noqa: F401 - fixture
    register_district,
    secret_of,
    state_engine,
    tls_server,
)

# ------------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, list[str]]:
    """Run ``passback ARGS`` through ``passback.cli.main`` (the entry point: one-line errors) in this
    process; returns (exit status, the non-blank lines written to stdout and stderr)."""
    from passback.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["passback", *args]
    code: Any = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    lines = [line for line in (out.getvalue() + err.getvalue()).splitlines() if line.strip()]
    return (code if isinstance(code, int) else 1), lines


@pytest.fixture
def registered(home, state_url) -> Iterator[str]:
    """d1 registered against a simulator with a valid source world; yields the simulator's URL."""
    from passback.simulator.server import SimulatorThread
    from tests.factory import write_source

    w = world()
    write_source(w, get_settings().source_db_url)
    scenario = Scenario(districts=[scenario_for(w, client_id="otus-d1", client_secret=secret_of("d1"))])
    with SimulatorThread(scenario) as server:
        register_district("d1", server.url)
        yield server.url


def assert_one_line_error(code: int, lines: list[str], *needles: str) -> str:
    """A pure error: exit status non-zero, ONE line, which says what happened and what to do."""
    assert code != 0, lines
    assert len(lines) == 1, "expected ONE line, got:\n" + "\n".join(lines)
    line = lines[0]
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in {line!r}"
    return line


def assert_report_with_one_error(code: int, lines: list[str], *needles: str, fix: str = "") -> str:
    """A check report (``doctor``): verdict lines (✔/✘) and fix lines (→); exactly ONE failed verdict,
    the whole of it on one line (not wrapped), saying what happened and what to check; exit non-zero."""
    assert code != 0, lines
    failed = [line for line in lines if line.startswith(("✘", "error:"))]
    assert len(failed) == 1, "expected ONE failed check, got:\n" + "\n".join(lines)
    stray = [line for line in lines if not line.lstrip().startswith(("✔", "✘", "→", "error:"))]
    assert not stray, "lines that are neither a verdict nor a fix (a wrapped line?):\n" + "\n".join(stray)
    for needle in needles:
        assert needle.lower() in failed[0].lower(), f"{needle!r} not in {failed[0]!r}"
    if fix:
        after = lines[lines.index(failed[0]) + 1:]
        assert after and after[0].lstrip().startswith("→") and fix.lower() in after[0].lower(), lines
    return failed[0]


BAD_ARGS = [
    # (argv, what the line must say)
    (["doctor", "nope"], ["unknown district 'nope'", "passback district add"]),
    (["sync", "--district", "nope"], ["unknown district 'nope'", "passback district add"]),
    (["backfill", "nope", "--effective-date", "2026-09-01"], ["unknown district 'nope'"]),
    (["explain", "nope", "a-1"], ["unknown district 'nope'"]),
    (["district", "show", "nope"], ["unknown district 'nope'"]),
    (["district", "set", "nope", "--concurrency", "2"], ["unknown district 'nope'"]),
    (["mapping", "set", "nope", "Quiz=Quiz"], ["unknown district 'nope'"]),
    (["district", "set", "d1", "--effective-date", "2026-13-45"], ["2026-13-45", "YYYY-MM-DD"]),
    (["district", "set", "d1", "--effective-date", "next tuesday"], ["next tuesday", "YYYY-MM-DD"]),
    (["backfill", "d1", "--effective-date", "2026/09/01"], ["2026/09/01", "YYYY-MM-DD"]),
    (["district", "add", "d9", "--name", "D9", "--base-url", "http://127.0.0.1:9/x", "--token-url",
      "http://127.0.0.1:9/t", "--client-id", "c", "--client-secret", "s", "--effective-date", "31/08/2026"],
     ["31/08/2026", "YYYY-MM-DD"]),
    (["district", "set", "d1", "--timezone", "Mars/Olympus_Mons"], ["Mars/Olympus_Mons", "IANA"]),
    (["district", "set", "d1", "--base-url", "ftp://sis.example"], ["ftp://sis.example", "http"]),
    (["mapping", "set", "d1", "Essay=cat-quiz"], ["'Essay' is not an Otus assessment type", "Quiz"]),
    (["mapping", "set", "d1", "Quiz"], ["TYPE=CATEGORY"]),
    (["mapping", "set", "d1", "Quiz=No Such Category"], ["is not a category in the SIS", "Quiz (cat-quiz)"]),
]


@pytest.mark.parametrize(("argv", "needles"), BAD_ARGS, ids=[" ".join(a[:3]) for a, _ in BAD_ARGS])
def test_bad_cli_input_is_one_line_and_changes_nothing(registered, argv: list[str], needles: list[str]) -> None:
    url = get_settings().state_db_url
    before = dump_tables(url)
    code, lines = cli(*argv)
    assert_one_line_error(code, lines, *needles)
    assert dump_tables(url) == before


def _point_at(base: str) -> None:
    store.update_district(state_engine(), "d1", base_url=f"{base}/d1/ims/oneroster/v1p1", token_url=f"{base}/d1/oauth/token")


@pytest.mark.parametrize("where", ["closed port", "https to a plain-HTTP port", "self-signed certificate"])
def test_doctor_against_an_unreachable_or_untrusted_sis(registered, tmp_path, where: str) -> None:
    with contextlib.ExitStack() as stack:
        if where == "closed port":
            _point_at(f"http://127.0.0.1:{closed_port()}")
            needles = ["cannot reach the SIS", "district d1", "check", "firewall"]  # ... to the end of the advice
        elif where == "https to a plain-HTTP port":
            _point_at(registered.replace("http://", "https://"))
            needles = ["cannot reach the SIS", "district d1", "tls", "certificate", "CA bundle"]
        else:
            _point_at(stack.enter_context(tls_server(tmp_path)))
            needles = ["cannot reach the SIS", "district d1", "tls", "certificate", "CA bundle"]
        url = get_settings().state_db_url
        before = dump_tables(url)
        code, lines = cli("doctor", "d1")
        assert_report_with_one_error(code, lines, *needles)
        assert dump_tables(url) == before


def test_doctor_without_an_otus_source_database(registered) -> None:
    """A misconfigured PASSBACK_SOURCE_URL (no such database) says which setting to fix."""
    Path(get_settings().source_db_url.removeprefix("sqlite:///")).unlink()
    url = get_settings().state_db_url
    before = dump_tables(url)
    code, lines = cli("doctor", "d1")
    assert_report_with_one_error(code, lines, "source", fix="PASSBACK_SOURCE_URL")
    assert dump_tables(url) == before


def cli_process(*args: str, **env: str) -> tuple[int, list[str], str]:
    """``python -m passback ARGS`` in a child process (what a person runs); returns (exit status, the
    non-blank lines of stdout + stderr, stdout).  Prefect talks to the test harness's API."""
    import os
    import subprocess

    from prefect.settings import PREFECT_API_URL

    environ = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), **env}
    environ.pop("PREFECT_LOGGING_LEVEL", None)  # the CLI's own default, as for a person at a terminal
    done = subprocess.run([sys.executable, "-m", "passback", *args], capture_output=True, text=True, env=environ,
                          timeout=240, check=False)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines, done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("where", ["closed port", "self-signed certificate"])
def test_sync_against_an_unreachable_or_untrusted_sis(prefect_api, registered, tmp_path, where: str) -> None:  # noqa: F811
    """The summary table, then ONE line with the district's error and what to check; exit status 1."""
    with contextlib.ExitStack() as stack:
        base = f"http://127.0.0.1:{closed_port()}" if where == "closed port" else stack.enter_context(tls_server(tmp_path))
        _point_at(base)
        url = get_settings().state_db_url
        before = dump_tables(url)
        code, lines, _ = cli_process("sync", "--district", "d1")
        after = dump_tables(url)
    assert code == 1, lines
    errors = [line for line in lines if "cannot reach the SIS" in line]
    assert len(errors) == 1, "the error should be said once, not:\n" + "\n".join(errors)
    advice_ends = "firewall" if where == "closed port" else "CA bundle"  # the whole advice on that one line
    assert "district d1" in errors[0] and "check" in errors[0] and advice_ends in errors[0], errors[0]
    noise = [line for line in lines if "Traceback" in line or "Warning" in line]
    assert not noise, noise
    # nothing changed but the run history, which records the failed attempt
    assert {t: rows for t, rows in after.items() if t != "run"} == {t: rows for t, rows in before.items() if t != "run"}
    new_runs = [r for r in after["run"] if r not in before["run"]]
    assert len(new_runs) == 1 and "failed" in new_runs[0]


# ------------------------------------------------------------------------------------------------
# The rules over arbitrary frames and configurations (Hypothesis, no I/O)
# ------------------------------------------------------------------------------------------------
IDS = [f"a-{i}" for i in range(6)]
STUDENTS = ["u-s1", "u-s2", "u-s3", "u-blank", "u-zz"]
ZONES = ["America/Chicago", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham",
         "America/St_Johns", "Asia/Kathmandu", "Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"]
# instants around the 2026-27 DST changes (US, EU, southern hemisphere) and the periods' edges
DST_INSTANTS = [dt.datetime(2026, 11, 1, 7, 0), dt.datetime(2026, 10, 25, 1, 0), dt.datetime(2027, 3, 14, 8, 0),
                dt.datetime(2027, 3, 28, 1, 0), dt.datetime(2027, 4, 4, 2, 0), dt.datetime(2026, 10, 4, 15, 0),
                dt.datetime(2026, 10, 17, 5, 30), dt.datetime(2026, 12, 19, 5, 59)]
PERIOD_BOUNDS = {p["sourced_id"]: (dt.date.fromisoformat(p["start_date"]), dt.date.fromisoformat(p["end_date"])) for p in PERIODS}
PERIOD_SIS = {"sky-c1"}


def _users() -> pd.DataFrame:
    base = world().users
    extra = pd.DataFrame([{"id": "u-blank", "district_id": "d1", "sis_id": "   ", "role": "student",
                           "given_name": "B", "family_name": "Lank"}])
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
    st.sampled_from([None, "", "   ", "\t\n\u3000", "x" * 50, " " + "y" * 49 + " ", "z" * 10_000, "e\u0301" * 25,
                     "\U0001F9EA" * 49, "\U0001F9EA" * 50, "Quiz \ufffd\ufffd", "NUL\x00inside"]),
    st.text(max_size=70))
weird_points = st.one_of(st.sampled_from([None, math.nan, math.inf, -math.inf, 0.0, -5.0, 10.5, 1e-9, 1e300, 2.0**53]),
                         st.floats())
any_day = st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)).map(pd.Timestamp)
weird_days = st.one_of(st.none(), any_day, st.sampled_from([pd.Timestamp("2026-11-01"), pd.Timestamp("2027-03-14"),
                                                          pd.Timestamp("2099-01-01"), pd.Timestamp("1970-01-01")]))


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
        "title": sometimes(draw, draw(st.sampled_from(["Quiz 1", "Lab", "q" * 49, "  padded  ", "Ünïcödé ✓"])), weird_titles),
        "assessment_type": sometimes(draw, draw(st.sampled_from(OTUS_TYPES)),
                                     st.one_of(st.sampled_from([None, "", "quiz", "Essay"]), st.text(max_size=8))),
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
        "state": sometimes(draw, draw(st.sampled_from(["graded", "graded", "not_submitted"])),
                           st.sampled_from([None, "", "turned_in", "Graded", "not_submitted"])),
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
    instant = draw(st.one_of(st.sampled_from(DST_INSTANTS).flatmap(
        lambda t: st.integers(-180, 180).map(lambda m: t + dt.timedelta(minutes=m))),
        st.datetimes(dt.datetime(2026, 8, 1), dt.datetime(2027, 6, 30))))
    utc_now = instant.replace(tzinfo=dt.UTC)
    mapping = sometimes(draw, dict(MAPPING), st.one_of(
        st.just({}), st.dictionaries(st.sampled_from(OTUS_TYPES),
                                     st.sampled_from([*MAPPING.values(), "cat-inactive", "cat-zz"]), max_size=12)))
    ctx = context(
        timezone=zone, now_local=local_now(zone, utc_now), mapping=mapping,
        effective_date=sometimes(draw, dt.date(2026, 8, 17), st.dates(dt.date(2026, 6, 1), dt.date(2027, 12, 31))),
        closed_periods=sometimes(draw, frozenset({"gp-q1"}),
                                 st.sets(st.sampled_from([p["sourced_id"] for p in PERIODS])).map(frozenset)),
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


def oracle(assessments: list[dict[str, Any]], scores: list[dict[str, Any]], group: list[str], ctx: Any,
           utc_now: dt.datetime) -> tuple[list[str | None], list[str | None]]:
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
            ("before_effective_date", assign is not None and not pd.isna(assign) and assign.date() < ctx.effective_date),
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
        past_due = (due is not None and not pd.isna(due)
                    and pd.Timestamp(due) + pd.Timedelta(days=1) + pd.Timedelta(hours=ctx.grace_hours) <= pd.Timestamp(now_local))
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
    a_reasons = [r if r is not None else (None if _text_or_none(a["id"]) in sendable else "nothing_to_send")
                 for a, r in zip(assessments, pre, strict=True)]
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


def test_every_row_gets_exactly_the_first_reason_that_applies_and_only_valid_payloads_are_planned() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=35, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @example(source=([assessment(id="a-0"), assessment(id="a-1", title="Lab", assessment_type="Lab")],
                     [score(assessment_id="a-0"), score(assessment_id="a-1", student_id="u-s2", state="not_submitted",
                                                       points_earned=None)]),
             group=["u-t1"], ctx_now=PLAIN_CONTEXT)
    @given(sources(), st.lists(st.sampled_from(["u-t1", "u-t2", "u-adm", "u-zz"]), unique=True).map(
               lambda g: g if len(g) != 1 else ["u-t1", *g]), contexts())
    def check(source: Any, group: list[str], ctx_now: Any) -> None:
        (assessments, scores), (ctx, utc_now) = source, ctx_now
        w = World(users=USERS, classes=CLASSES, enrollments=world().enrollments,
                  assessments=pd.DataFrame(assessments),
                  scores=pd.DataFrame(scores, columns=["assessment_id", "student_id", "points_earned", "state",
                                                       "excluded", "updated_at"]),
                  group_members=pd.DataFrame({"district_id": "d1", "user_id": pd.Series(group, dtype="str")}))
        ev = evaluate(w, ctx)
        # exactly one outcome per row: the frames keep every row, each with one known reason or none
        assert len(ev.assessments) == len(assessments) and len(ev.scores) == len(scores)
        a_got, s_got = _as_list(ev.assessments["reason"]), _as_list(ev.scores["reason"])
        assert set(a_got) - {None} <= set(ASSESSMENT_REASONS)
        assert set(s_got) - {None} <= set(SCORE_REASONS)
        # ... and it is the first rule that applies (PRODUCT.md order)
        a_want, s_want = oracle(assessments, scores, group, ctx, utc_now)
        assert a_got == a_want
        assert s_got == s_want
        # the plan writes exactly the eligible rows, and nothing the SIS would refuse
        assert len(ev.plan.line_item_writes) == a_got.count(None)
        assert len(ev.plan.result_writes) == s_got.count(None)
        assert_payloads_acceptable(ev, ctx)
        seen.update(r or "eligible" for r in a_got + s_got)

    check()
    # the examples exercised both sides of the rules (not a vacuous pass)
    assert seen["eligible"] > 0 and len(seen) >= 8, seen


# ------------------------------------------------------------------------------------------------
# A raw SQLite source: whatever bytes a foreign database may hold (sqlite3, no ORM, no constraints)
# ------------------------------------------------------------------------------------------------
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
        return [{k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in r.items()}
                for r in frame.to_dict("records")]

    return {"otus_users": records(w.users), "otus_classes": records(w.classes),
            "otus_enrollments": records(w.enrollments), "otus_group_members": records(w.group_members)}


raw_text = st.one_of(st.text(max_size=30), st.binary(max_size=12), st.sampled_from(
    [None, b"Quiz \xff\xfe\x80", Blob(b"\x00\x01blob"), 7, 2.5, "z" * 10_000, "\U0001F9EA" * 49]))
raw_number = st.sampled_from([None, 10, 10.0, "10", " 10 ", "ten", "inf", "-inf", "NaN", "", b"\xff", 10.5, -3, "1e3",
                              Blob(b"10")])
raw_flag = st.sampled_from([None, 1, 0, "1", "yes", "no", "TRUE", "t", "maybe", 2, b"\x80", ""])
raw_date = st.sampled_from([None, "2026-11-02", "2026-11-09", "2026-11-02 00:00:00", "2026-11-09T23:30:00-06:00",
                            "2026-11-01T01:30:00-05:00", "2027-01-05", "2026-02-30", "11/02/2026", "", "0001-01-01",
                            "9999-12-31", 20261102, b"\xff\xfe", "2026-11-02\x00junk"])
raw_state = st.sampled_from([None, "graded", "turned_in", "not_submitted", "GRADED", b"grad\xffed", 3, ""])


RAW_ASSESSMENT = {  # column: (a valid value, junk)
    "class_id": ("c-1", st.sampled_from([None, b"c-\xff", "c-2", 1])),
    "assigned_by": ("u-t1", st.sampled_from([None, b"u-\xfft1", "u-adm"])),
    "title": ("Fractions quiz", raw_text),
    "assessment_type": ("Quiz", st.sampled_from([None, b"Qu\xffiz", "quiz", 12])),
    "scoring": ("points", st.sampled_from([None, b"poin\xffts", "standards"])),
    "points_possible": (10, raw_number),
    "include_in_final_grade": (1, raw_flag),
    "assign_date": ("2026-11-02", raw_date),
    "due_date": ("2026-11-09", raw_date),
    "status": ("active", st.sampled_from([None, b"act\xffive", "deleted"])),
    "updated_at": ("2026-11-10 12:00:00", raw_date),
}
RAW_SCORE = {
    "student_id": ("u-s1", st.sampled_from(["u-s2", "u-s3", b"u-\xffs1", None])),
    "points_earned": (8.5, raw_number),
    "state": ("graded", raw_state),
    "excluded": (0, raw_flag),
    "updated_at": ("2026-11-10T12:00:00", raw_date),
}


@st.composite
def raw_rows(draw: Any, columns: dict[str, tuple[Any, st.SearchStrategy[Any]]], **fixed: st.SearchStrategy[Any]) -> dict[str, Any]:
    row = {name: draw(strategy) for name, strategy in fixed.items()}
    row.update({name: sometimes(draw, valid, weird) for name, (valid, weird) in columns.items()})
    return row


raw_assessment = raw_rows(RAW_ASSESSMENT, id=st.one_of(st.sampled_from(["a-1", "a-2", "a-3"]),
                                                      st.sampled_from([b"a-\xff", 7, ""])), district_id=st.just("d1"))
raw_score = raw_rows(RAW_SCORE, assessment_id=st.one_of(st.sampled_from(["a-1", "a-2", "a-3"]),
                                                        st.sampled_from([b"a-\xff", "a-zz"])))


def test_a_raw_source_with_junk_values_reads_and_classifies_every_row(tmp_path: Path) -> None:
    from passback.source.read import read_district

    path = tmp_path / "otus.db"
    seen: Counter[str] = Counter()

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @example(assessments=[{"id": "a-1", "district_id": "d1", **{k: v for k, (v, _) in RAW_ASSESSMENT.items()}}],
             scores=[{"assessment_id": "a-1", **{k: v for k, (v, _) in RAW_SCORE.items()}}], ctx_now=PLAIN_CONTEXT)
    @given(st.lists(raw_assessment, min_size=1, max_size=8), st.lists(raw_score, max_size=15), contexts())
    def check(assessments: list[dict[str, Any]], scores: list[dict[str, Any]], ctx_now: Any) -> None:
        ctx, _ = ctx_now
        write_raw_source(path, {**base_rows(), "otus_assessments": assessments, "otus_scores": scores})
        with sqlite3.connect(path) as conn:
            n_scores = conn.execute("SELECT COUNT(*) FROM otus_scores WHERE assessment_id IN "
                                    "(SELECT id FROM otus_assessments WHERE district_id = 'd1')").fetchone()[0]
        source = read_district(f"sqlite:///{path}", "d1")
        assert len(source.assessments) == len(assessments) and len(source.scores) == n_scores
        for column in ("title", "id", "class_id", "status"):  # text comes out as text (U+FFFD for bad bytes)
            assert all(isinstance(v, str) or pd.isna(v) for v in source.assessments[column])
        ev = evaluate(source, ctx)
        a_got, s_got = _as_list(ev.assessments["reason"]), _as_list(ev.scores["reason"])
        assert len(a_got) == len(assessments) and len(s_got) == n_scores
        assert set(a_got) - {None} <= set(ASSESSMENT_REASONS) and set(s_got) - {None} <= set(SCORE_REASONS)
        assert_payloads_acceptable(ev, ctx)
        seen.update(r or "eligible" for r in a_got + s_got)

    check()
    assert seen["eligible"] > 0 and len(seen) >= 5, seen


# ------------------------------------------------------------------------------------------------
# End to end: extreme rows and configurations against the simulator
# ------------------------------------------------------------------------------------------------
N_DUP_ASSESSMENTS = 1000
N_DUP_SCORES = 3000


def extreme_rows() -> tuple[dict[str, list[dict[str, Any]]], dict[str, str | None]]:
    """A raw source (no primary keys) full of edge cases; returns it and each assessment's expected reason."""
    def a(aid: Any, **kw: Any) -> dict[str, Any]:
        row = {"id": aid, "district_id": "d1", "class_id": "c-1", "assigned_by": "u-t1", "title": f"Quiz {aid}",
               "assessment_type": "Quiz", "scoring": "points", "points_possible": 10, "include_in_final_grade": 1,
               "assign_date": "2026-11-02", "due_date": "2026-11-09", "status": "active",
               "updated_at": "2026-11-10 12:00:00"}
        row.update(kw)
        return row

    def s(aid: Any, sid: Any = "u-s1", **kw: Any) -> dict[str, Any]:
        row = {"assessment_id": aid, "student_id": sid, "points_earned": 8.5, "state": "graded", "excluded": 0,
               "updated_at": "2026-11-10T12:00:00"}
        row.update(kw)
        return row

    expected: dict[str, str | None] = {
        "a-ok": None, "a-dup": None, "a-10k": "title_too_long", "a-49": None, "a-50": "title_too_long",
        "a-pad": None, "a-bytes": None, "a-badclass": "class_not_in_sis", "a-future": None, "a-dst": None,
        "a-textpoints": None, "a-tenpoints": "points_not_whole", "a-due-today": "nothing_to_send",
        "a-blob-title": None,
    }
    assessments = [
        a("a-ok"),
        *[a("a-dup", title="Duplicated quiz") for _ in range(N_DUP_ASSESSMENTS)],
        a("a-10k", title="t" * 10_000),
        a("a-49", title="\U0001F9EA" * 49),                     # 49 characters (196 bytes): fits
        a("a-50", title="e\u0301" * 25),                         # 50 code points: too long
        a("a-pad", title="   " + "p" * 49 + "\t "),             # 49 once stripped
        a("a-bytes", title=b"Quiz \xff\xfe bytes"),             # not UTF-8: read with U+FFFD
        a("a-badclass", class_id=b"c-\xff1"),
        a("a-future", assign_date="2027-01-05", due_date="2027-01-12", title="Future quiz"),
        a("a-dst", assign_date="2026-10-19", due_date="2026-11-01T01:30:00-05:00", title="DST quiz"),
        a("a-textpoints", points_possible=" 20 "),
        a("a-tenpoints", points_possible="ten"),
        a("a-due-today", due_date="2026-11-18", title="Due today"),
        a("a-blob-title", title=Blob(b"Blob title")),
    ]
    scores = [
        s("a-ok"), s("a-ok", "u-s2", points_earned="9.5"),
        *[s("a-ok", points_earned=7.0) for _ in range(N_DUP_SCORES)],   # duplicates of (a-ok, u-s1)
        s("a-ok", b"u-\xffs2"),                                           # student id not UTF-8: not in the SIS
        s("a-dup"), s("a-10k"), s("a-49"), s("a-50"), s("a-pad"), s("a-bytes"), s("a-badclass"),
        s("a-future"), s("a-dst", state="not_submitted", points_earned=None),  # past due: 0 is sent
        s("a-dst", "u-s2", points_earned="NaN"),                              # score_invalid
        s("a-textpoints"), s("a-tenpoints"),
        s("a-due-today", state="not_submitted", points_earned=None),         # not yet due
        s("a-blob-title", points_earned=b"\xff"),                             # score_invalid ...
        s("a-blob-title", "u-s2", points_earned=Blob(b"6")),                 # ... but this one passes
    ]
    return {**base_rows(), "otus_assessments": assessments, "otus_scores": scores}, expected


def assert_sis_holds_only_valid_items(state: dict[str, Any]) -> None:
    periods = {p["sourced_id"]: p for p in PERIODS}
    titles = {}
    for li in state["lineItems"]:
        title = li["title"]
        assert 1 <= len(title.strip()) <= 49, title[:60]
        assert float(li["resultValueMax"]).is_integer() and float(li["resultValueMax"]) > 0
        gp = periods[li["gradingPeriod"]["sourcedId"]]
        assert gp["start_date"] <= li["assignDate"][:10] <= li["dueDate"][:10] <= gp["end_date"]
        assert li["category"]["sourcedId"] in MAPPING.values() and li["class"]["sourcedId"] == "sky-c1"
        titles[li["sourcedId"]] = title
    for r in state["results"]:
        assert r["lineItem"]["sourcedId"] in titles
        assert math.isfinite(float(r["score"])) and float(r["score"]) >= 0
        assert r["student"]["sourcedId"] in ("sky-s1", "sky-s2")
    assert state["duplicate_line_items"] == 0


@pytest.fixture
def extreme(home, state_url) -> Iterator[tuple[Sim, dict[str, str | None], int, int]]:
    """The extreme rows in the source DB, d1 registered against the simulator (full mapping); yields
    (simulator, expected reason per assessment id, source assessment rows, source score rows)."""
    from passback.simulator.server import SimulatorThread

    rows, expected = extreme_rows()
    write_raw_source(Path(get_settings().source_db_url.removeprefix("sqlite:///")), rows)
    scenario = Scenario(districts=[scenario_for(world(), client_id="otus-d1", client_secret=secret_of("d1"))])
    with SimulatorThread(scenario) as server:
        register_district("d1", server.url, client_id="otus-d1", client_secret=secret_of("d1"))
        yield Sim(server.url, server.app), expected, len(rows["otus_assessments"]), len(rows["otus_scores"])


def _rows_accounted(summary: Any, n_assessments: int, n_scores: int) -> None:
    """Every source row is counted exactly once across the outcomes."""
    assert sum(summary.line_items.values()) == n_assessments, summary.line_items
    assert sum(summary.results.values()) == n_scores, summary.results


@pytest.mark.slow
def test_extreme_rows_reach_the_sis_only_as_valid_items(extreme) -> None:
    sim, expected, n_assessments, n_scores = extreme
    summary = run_sync()
    assert summary.status == "completed", summary.error
    _rows_accounted(summary, n_assessments, n_scores)
    assert summary.reasons["duplicate_row"] == (N_DUP_ASSESSMENTS - 1) + N_DUP_SCORES
    assert summary.reasons["title_too_long"] == 2 and summary.reasons["class_not_in_sis"] == 1
    assert summary.reasons["points_not_whole"] == 1 and summary.reasons["nothing_to_send"] == 1
    assert summary.reasons["score_invalid"] == 2 and summary.reasons["student_not_in_sis"] == 1
    assert summary.reasons["not_yet_due"] == 1
    # the SIS refused nothing, and holds exactly the eligible items, all valid
    puts = sim.tenant_stats("d1")["puts"]
    assert all(status in ("200", "201") for kind in puts.values() for status in kind), puts
    state = sim.state("d1")
    assert_sis_holds_only_valid_items(state)
    eligible = sorted(aid for aid, reason in expected.items() if reason is None)
    assert state["counts"]["lineItems"] == len(eligible) == summary.line_items["created"]
    by_title = {li["title"] for li in state["lineItems"]}
    assert "Quiz \ufffd\ufffd bytes" in by_title and "\U0001F9EA" * 49 in by_title and "p" * 49 in by_title
    assert "Blob title" in by_title
    zero = [r for r in state["results"] if float(r["score"]) == 0.0]
    assert len(zero) == 1 and "Missing" in (zero[0].get("comment") or "")  # the DST quiz, not submitted, past due
    ledger = ledger_frame("d1")
    in_sis = {li["sourcedId"] for li in state["lineItems"]} | {r["sourcedId"] for r in state["results"]}
    assert in_sis == set(ledger.loc[ledger["status"] == "acked", "sourced_id"])
    # the rerun reads the same bytes the same way: nothing to write
    again = run_sync()
    assert again.writes == 0 and again.status == "completed"
    _rows_accounted(again, n_assessments, n_scores)


@pytest.mark.slow
def test_extreme_configuration_writes_nothing_invalid(extreme) -> None:
    """An empty mapping, an effective date in the future, a UTC+14 time zone: no crash, one reason per
    row, nothing invalid reaches the SIS."""
    from sqlalchemy import text as sql

    sim, expected, n_assessments, _ = extreme
    engine = state_engine()
    with engine.begin() as conn:
        conn.execute(sql("DELETE FROM category_mapping WHERE district_id = 'd1'"))
    empty = run_sync()
    assert empty.status == "completed" and empty.writes == 0
    assert empty.reasons["category_unmapped"] == sum(r is None or r == "nothing_to_send" for r in expected.values())
    assert sum(empty.line_items.values()) == n_assessments

    store.set_mapping(engine, "d1", dict(MAPPING))
    store.update_district(engine, "d1", effective_date=dt.date(2027, 6, 1))  # after every assign date
    future = run_sync()
    assert future.status == "completed" and future.writes == 0
    assert future.reasons["before_effective_date"] == sum(r is None or r == "nothing_to_send" for r in expected.values())
    assert sim.state("d1")["counts"] == {"lineItems": 0, "results": 0}

    store.update_district(engine, "d1", effective_date=dt.date(2026, 8, 17), timezone="Pacific/Kiritimati")
    far_east = run_sync()
    assert far_east.status == "completed", far_east.error
    assert sum(far_east.line_items.values()) == n_assessments
    # 16:00 UTC on 2026-11-18 is 06:00 on the 19th in Kiritimati: the quiz due on the 18th is past due there
    assert far_east.reasons.get("nothing_to_send", 0) == 0 and far_east.reasons.get("not_yet_due", 0) == 0
    puts = sim.tenant_stats("d1")["puts"]
    assert all(status in ("200", "201") for kind in puts.values() for status in kind), puts
    assert_sis_holds_only_valid_items(sim.state("d1"))
