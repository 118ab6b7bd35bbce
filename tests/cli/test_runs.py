"""`passback runs` shows each run's Prefect flow run (a UI link when PREFECT_UI_URL is set) and whole
errors; `explain` prints Otus titles literally (rich markup in a title is text, not style)."""

from __future__ import annotations

import uuid
from pathlib import Path

from passback.settings import get_settings
from passback.store import runs as store_runs
from passback.store.db import get_engine
from tests.factory import assessment, score, world
from tests.toolkit import cli, register, run_sync, running_sis

LONG_ERROR = (
    "cannot reach the SIS at sis.example.org for district d1 (connect: refused) — "
    + "check the URLs " * 12
    + "[red]THE END"
)


def test_runs_shows_the_flow_run_its_ui_link_and_the_whole_error(home: Path) -> None:
    register("d1", "http://127.0.0.1:9")
    engine = get_engine(get_settings().state_db_url)
    flow_run = str(uuid.uuid4())
    run_id = store_runs.start_run(engine, "d1", "sync", flow_run)
    store_runs.finish_run(engine, run_id, "failed", {"district": "d1", "status": "failed", "writes": 0}, LONG_ERROR)
    store_runs.start_run(engine, "d1", "sync", None)  # a run without Prefect (the library's own)

    plain = cli("runs", "d1")
    assert plain.code == 0, plain.err
    assert flow_run in plain.out and "—" in plain.out
    flat = " ".join(plain.out.split())  # wrapped to the terminal, never cut
    assert " ".join(f"✘ d1 run {run_id[:8]}: {LONG_ERROR}".split()) in flat  # whole, markup printed as written

    linked = cli("runs", "d1", env={"PREFECT_UI_URL": "http://127.0.0.1:4200/"})
    assert f"http://127.0.0.1:4200/runs/flow-run/{flow_run}" in "".join(linked.out.split())


def test_explain_prints_an_otus_title_with_markup_literally(home: Path) -> None:
    w = world(
        [assessment(id="a-1", title="[red]x[/red] quiz")],
        [score(assessment_id="a-1", student_id="u-s1")],
        group=["u-t1"],
    )
    with running_sis(w) as sis:
        register("d1", sis.url)
        run_sync()
        ran = cli("explain", "d1", "a-1")
    assert ran.code == 0, ran.err
    assert "“[red]x[/red] quiz”" in ran.out
