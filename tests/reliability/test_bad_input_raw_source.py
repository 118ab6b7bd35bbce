"""Bad input, a raw SQLite source (non-UTF-8 bytes, text in numeric columns, malformed dates): the reader
and the rules never crash and still give every row exactly one outcome."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from passback.domain.codes import ASSESSMENT_REASONS, SCORE_REASONS
from passback.sync.evaluate import evaluate
from tests.reliability._bad_input import (
    PLAIN_CONTEXT,
    Blob,
    _as_list,
    assert_payloads_acceptable,
    base_rows,
    contexts,
    sometimes,
    write_raw_source,
)

raw_text = st.one_of(
    st.text(max_size=30),
    st.binary(max_size=12),
    st.sampled_from([None, b"Quiz \xff\xfe\x80", Blob(b"\x00\x01blob"), 7, 2.5, "z" * 10_000, "\U0001f9ea" * 49]),
)
raw_number = st.sampled_from(
    [None, 10, 10.0, "10", " 10 ", "ten", "inf", "-inf", "NaN", "", b"\xff", 10.5, -3, "1e3", Blob(b"10")]
)
raw_flag = st.sampled_from([None, 1, 0, "1", "yes", "no", "TRUE", "t", "maybe", 2, b"\x80", ""])
raw_date = st.sampled_from(
    [
        None,
        "2026-11-02",
        "2026-11-09",
        "2026-11-02 00:00:00",
        "2026-11-09T23:30:00-06:00",
        "2026-11-01T01:30:00-05:00",
        "2027-01-05",
        "2026-02-30",
        "11/02/2026",
        "",
        "0001-01-01",
        "9999-12-31",
        20261102,
        b"\xff\xfe",
        "2026-11-02\x00junk",
    ]
)
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
def raw_rows(
    draw: Any, columns: dict[str, tuple[Any, st.SearchStrategy[Any]]], **fixed: st.SearchStrategy[Any]
) -> dict[str, Any]:
    row = {name: draw(strategy) for name, strategy in fixed.items()}
    row.update({name: sometimes(draw, valid, weird) for name, (valid, weird) in columns.items()})
    return row


raw_assessment = raw_rows(
    RAW_ASSESSMENT,
    id=st.one_of(st.sampled_from(["a-1", "a-2", "a-3"]), st.sampled_from([b"a-\xff", 7, ""])),
    district_id=st.just("d1"),
)
raw_score = raw_rows(
    RAW_SCORE, assessment_id=st.one_of(st.sampled_from(["a-1", "a-2", "a-3"]), st.sampled_from([b"a-\xff", "a-zz"]))
)


def test_a_raw_source_with_junk_values_reads_and_classifies_every_row(tmp_path: Path) -> None:
    from passback.source.read import read_district

    path = tmp_path / "otus.db"
    seen: Counter[str] = Counter()

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @example(
        assessments=[{"id": "a-1", "district_id": "d1", **{k: v for k, (v, _) in RAW_ASSESSMENT.items()}}],
        scores=[{"assessment_id": "a-1", **{k: v for k, (v, _) in RAW_SCORE.items()}}],
        ctx_now=PLAIN_CONTEXT,
    )
    @given(st.lists(raw_assessment, min_size=1, max_size=8), st.lists(raw_score, max_size=15), contexts())
    def check(assessments: list[dict[str, Any]], scores: list[dict[str, Any]], ctx_now: Any) -> None:
        ctx, _ = ctx_now
        write_raw_source(path, {**base_rows(), "otus_assessments": assessments, "otus_scores": scores})
        with sqlite3.connect(path) as conn:
            n_scores = conn.execute(
                "SELECT COUNT(*) FROM otus_scores WHERE assessment_id IN "
                "(SELECT id FROM otus_assessments WHERE district_id = 'd1')"
            ).fetchone()[0]
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
