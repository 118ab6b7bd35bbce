"""Stored XSS: text from Otus reaches the report and the GX Data Docs escaped, never as markup.

A `<script>` (and an `<img onerror>`) is planted in every Otus text column — titles, types, scoring,
status, a score's state, names, ids — and a run builds its report; no HTML page passback writes
holds the planted markup, and the values are there, escaped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd

from passback.settings import get_settings
from passback.sync.district import RunOptions, sync_district
from tests.factory import assessment, score, world
from tests.toolkit import UTC_NOW, register, running_sis

SCRIPT = "<script>xss()</script>"
IMG = "<img src=x onerror=xss()>"


def hostile_world():
    rows = [
        assessment(id="a-1", title=SCRIPT),  # passes: written to the SIS as a title
        assessment(id="a-2", title=IMG + " and a long title that goes on and on"),
        assessment(id="a-3", status=SCRIPT),
        assessment(id="a-4", scoring=SCRIPT),
        assessment(id="a-5", assessment_type=SCRIPT),
        assessment(id=f"a-6{SCRIPT}", class_id=SCRIPT),
        assessment(id="a-7", assigned_by=IMG),
    ]
    scores = [score(assessment_id=r["id"], student_id=s) for r in rows for s in ("u-s1", "u-s2")]
    scores += [
        score(assessment_id="a-1", student_id="u-s3", state=SCRIPT),
        score(assessment_id=SCRIPT, student_id=IMG),
    ]  # an orphan score
    w = world(rows, scores, group=["u-t1", IMG])
    w.users["given_name"] = SCRIPT
    w.users["family_name"] = IMG
    w.classes["title"] = SCRIPT
    w.users = pd.concat(
        [
            w.users,
            pd.DataFrame(
                [
                    {
                        "id": IMG,
                        "district_id": "d1",
                        "sis_id": SCRIPT,
                        "role": "teacher",
                        "given_name": SCRIPT,
                        "family_name": IMG,
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    return w


def test_planted_markup_never_reaches_a_page_unescaped(home: Path) -> None:
    with running_sis(hostile_world()) as sis:
        register("d1", sis.url)
        summary = asyncio.run(sync_district("d1", RunOptions(utc_now=UTC_NOW)))
    assert summary.status == "completed", summary.error
    pages = list(get_settings().docs_dir.rglob("*.html"))
    assert len(pages) >= 8  # site index, district index, run page, GX index, suites, validations
    for page in pages:
        text = page.read_text()
        for planted in (SCRIPT, IMG, "<script>xss", "<img src=x"):
            assert planted not in text, (page, planted)
    run_page = Path(summary.data_docs).read_text()
    assert "&lt;script&gt;xss()&lt;/script&gt;" in run_page and "&lt;img src=x onerror=xss()&gt;" in run_page
    validations = [p for p in pages if "/validations/" in p.as_posix()]
    assert any("&lt;script&gt;xss()" in p.read_text() for p in validations)  # GX shows the values, escaped
