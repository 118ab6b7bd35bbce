"""Bad input: one line on stderr saying what happened and what to do, a non-zero exit, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from passback.simulator.server import tenant_urls
from tests.factory import CLIENT_ID, CLIENT_SECRET
from tests.toolkit import Sis, cli, register, state_dump


def add(url: str = "https://sis.example.org", district: str = "d2", **overrides: str) -> list[str]:
    api, token = tenant_urls(url, district)
    options = {
        "--name": "District 2",
        "--base-url": api,
        "--token-url": token,
        "--client-id": CLIENT_ID,
        "--effective-date": "2026-08-17",
        "--client-secret": "another-secret-99",
    } | overrides
    return ["district", "add", district, *(x for kv in options.items() for x in kv)]


CASES = {
    "unknown district (show)": (["district", "show", "nope"], "unknown district 'nope'", "passback district add"),
    "unknown district (set)": (
        ["district", "set", "nope", "--name", "X"],
        "unknown district 'nope'",
        "passback district add",
    ),
    "unknown district (doctor)": (["doctor", "nope"], "unknown district 'nope'", "known: d1"),
    "unknown district (sync)": (
        ["sync", "--district", "nope", "--json"],
        "unknown district 'nope'",
        "passback district add",
    ),
    "unknown district (backfill)": (
        ["backfill", "nope", "--effective-date", "2026-09-01"],
        "unknown district",
        "passback district add",
    ),
    "unknown district (explain)": (["explain", "nope", "a-1"], "unknown district 'nope'", "passback district add"),
    "unknown district (mapping)": (
        ["mapping", "set", "nope", "Quiz=Quiz"],
        "unknown district 'nope'",
        "passback district add",
    ),
    "unknown district (runs)": (["runs", "nope"], "unknown district 'nope'", "passback district add"),
    "nothing to set": (["district", "set", "d1"], "nothing to change", "--effective-date"),
    "malformed date (add)": (add(**{"--effective-date": "2026-02-30"}), "'2026-02-30' is not a date", "YYYY-MM-DD"),
    "malformed date (set)": (
        ["district", "set", "d1", "--effective-date", "08/17/2026"],
        "is not a date",
        "YYYY-MM-DD",
    ),
    "malformed date (backfill)": (
        ["backfill", "d1", "--effective-date", "yesterday"],
        "'yesterday' is not a date",
        "YYYY-MM-DD",
    ),
    "unknown mapping type": (
        ["mapping", "set", "d1", "Quiz=Quiz", "Essay=Quiz"],
        "'Essay' is not an Otus assessment type",
        "the 12 types are: Assignment",
    ),
    "mapping without '='": (["mapping", "set", "d1", "Quiz"], "'Quiz'", "TYPE=CATEGORY"),
    "unknown category": (
        ["mapping", "set", "d1", "Quiz=Pop quizzes"],
        "'Pop quizzes' is not a category in the SIS",
        "Quiz (cat-quiz)",
    ),
    "unknown time zone": (
        add(**{"--timezone": "Mars/Olympus"}),
        "'Mars/Olympus' is not an IANA time zone",
        "America/Chicago",
    ),
    "bad district id": (add(district="Springfield ISD"), "'Springfield ISD'", "letters of either case"),
    "not a URL": (add(**{"--base-url": "sis.example.org/oneroster"}), "is not an http(s) URL", "base_url"),
    "district exists": (add(district="d1"), "district 'd1' exists already", "passback district set d1"),
    "missing option": (["district", "add", "d3", "--name", "X"], "Missing option", "--"),
    "unknown assessment": (
        ["explain", "d1", "no-such-assessment"],
        "'no-such-assessment' is not in district d1",
        "check the id",
    ),
    "unknown preset": (["seed", "--preset", "XXL"], "unknown preset 'XXL'", "choose one of: demo"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_with_what_to_do_and_changes_nothing(home: Path, sis: Sis, case: str) -> None:
    register("d1", sis.url)
    args, what, todo = CASES[case]
    before = state_dump(home)
    ran = cli(*args)
    assert ran.code != 0
    assert len(ran.err_lines) == 1, ran.err
    line = ran.err_lines[0]
    assert line.startswith("error: ") and what in line and todo in line, line
    assert "Traceback" not in ran.err and ran.out == ""
    assert state_dump(home) == before


def test_debug_lets_the_exception_through_for_its_traceback(home: Path, sis: Sis) -> None:
    from passback.store.districts import UnknownDistrict

    register("d1", sis.url)
    with pytest.raises(UnknownDistrict):
        cli("district", "show", "nope", env={"PASSBACK_DEBUG": "1"})


def test_a_secret_given_on_the_command_line_is_not_echoed_in_an_error(home: Path, sis: Sis) -> None:
    register("d1", sis.url)
    ran = cli(*add(district="d1", **{"--client-secret": CLIENT_SECRET}))
    assert ran.code != 0 and CLIENT_SECRET not in ran.out + ran.err


def test_no_answer_to_the_secret_prompt_aborts_and_adds_nothing(
    home: Path, sis: Sis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PASSBACK_CLIENT_SECRET", raising=False)
    register("d1", sis.url)
    before = state_dump(home)
    args = add(district="d2")
    ran = cli(*args[: args.index("--client-secret")], input="")
    assert ran.code == 130
    assert ran.err_lines[-1].startswith("aborted: nothing was changed")
    assert state_dump(home) == before
