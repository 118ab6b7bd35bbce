"""Onboarding a district from the command line: district add|list|show|set, mapping set|show, doctor."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from passback.domain.codes import OTUS_TYPES
from passback.settings import get_settings
from passback.simulator.server import tenant_urls
from passback.store import districts as store
from passback.store.db import get_engine
from passback.store.secrets import decrypt_secret
from tests.factory import CLIENT_ID, CLIENT_SECRET
from tests.toolkit import Sis, cli, register, running_sis, small_world, unlicensed

DOCTOR_CHECKS = (
    "credentials",
    "read scopes",
    "licence and write scope",
    "mapping complete",
    "categories district-level and active",
    "grading periods",
    "effective date",
    "teacher group",
)


def add_args(url: str, district: str = "d1", *extra: str) -> list[str]:
    api, token = tenant_urls(url, district)
    return [
        "district",
        "add",
        district,
        "--name",
        f"District {district}",
        "--base-url",
        api,
        "--token-url",
        token,
        "--client-id",
        CLIENT_ID,
        "--effective-date",
        "2026-08-17",
        *extra,
    ]


def stored_secret(district: str = "d1") -> str:
    d = store.get_district(get_engine(get_settings().state_db_url), district)
    return decrypt_secret(d.secret_ciphertext).get_secret_value()


@pytest.mark.parametrize("source", ["option", "environment", "prompt"])
def test_district_add_takes_the_secret_from_option_env_or_hidden_prompt_and_never_shows_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    monkeypatch.delenv("PASSBACK_CLIENT_SECRET", raising=False)
    secret = f"s3cret-from-the-{source}-0042"
    args = add_args("https://sis.example.org", "springfield-isd", "--timezone", "America/New_York")
    if source == "option":
        ran = cli(*args, "--client-secret", secret)
    elif source == "environment":
        ran = cli(*args, env={"PASSBACK_CLIENT_SECRET": secret})
    else:
        ran = cli(*args, input=f"{secret}\n")
        assert "Client secret" in ran.out  # asked for, without echoing what was typed
    assert ran.code == 0, ran.err
    assert "springfield-isd added" in ran.out and "passback doctor springfield-isd" in ran.out
    assert stored_secret("springfield-isd") == secret

    listed = cli("district", "list")
    shown = cli("district", "show", "springfield-isd")
    assert listed.code == shown.code == 0
    assert "springfield-isd" in listed.out and "America/New_York" in listed.out
    view = json.loads(shown.out)
    assert view["client_secret"] == "(stored encrypted)" and view["effective_date"] == "2026-08-17"
    assert view["timezone"] == "America/New_York" and view["mapping"] == {}
    for text in (ran.out, ran.err, listed.out, listed.err, shown.out, shown.err):
        assert secret not in text
    assert secret.encode() not in (home / "state.db").read_bytes()


def test_district_set_changes_only_what_is_given_and_rotates_the_secret(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(*add_args("https://sis.example.org"), "--client-secret", "first-secret-0001").code == 0
    monkeypatch.setenv("PASSBACK_CLIENT_SECRET", "rotated-secret-0002")
    ran = cli("district", "set", "d1", "--effective-date", "2026-09-01", "--client-secret", "-", "--disabled")
    assert ran.code == 0, ran.err
    assert "rotated-secret-0002" not in ran.out + ran.err
    assert stored_secret() == "rotated-secret-0002"
    view = json.loads(cli("district", "show", "d1").out)
    assert (view["effective_date"], view["enabled"], view["name"]) == ("2026-09-01", False, "District d1")
    assert view["request_timeout_s"] == 30.0  # the default
    assert cli("district", "set", "d1", "--timeout", "7.5").code == 0
    assert json.loads(cli("district", "show", "d1").out)["request_timeout_s"] == 7.5
    assert cli("district", "set", "d1", "--timeout", "0").code != 0  # not a timeout


def test_a_district_client_uses_the_district_request_timeout(home: Path) -> None:
    from passback.sync.district import client_for

    assert (
        cli(*add_args("https://sis.example.org"), "--client-secret", "first-secret-0001", "--timeout", "12").code == 0
    )
    client = client_for(store.get_district(get_engine(get_settings().state_db_url), "d1"))
    # the district's timeout bounds each request as a whole; connecting waits at most 5 s
    assert (client._loop.bounds.deadline_s, client._http.timeout.connect) == (12.0, 5.0)


def test_mapping_by_title_or_sourced_id_then_doctor_until_healthy(home: Path, sis: Sis) -> None:
    assert cli(*add_args(sis.url), "--client-secret", CLIENT_SECRET).code == 0
    eleven = [f"{t}={t}" for t in OTUS_TYPES if t not in ("Quiz", "Worksheet")] + ["quiz=cat-quiz"]
    mapped = cli("mapping", "set", "d1", *eleven)
    assert mapped.code == 0, mapped.err
    assert "Quiz → cat-quiz (Quiz)" in mapped.out and "Lab → cat-lab (Lab)" in mapped.out

    shown = cli("mapping", "show", "d1")
    assert "cat-homework" in shown.out and "unmapped" in shown.out.split("Worksheet", 1)[1].splitlines()[0]

    incomplete = cli("doctor", "d1")
    assert incomplete.code == 1
    line = next(li for li in incomplete.out.splitlines() if "mapping complete" in li)
    assert line.startswith("✘") and "11 of 12" in line and "Worksheet" in line
    assert "passback mapping set d1 Worksheet=CATEGORY" in incomplete.out  # what to do

    assert cli("mapping", "set", "d1", "Worksheet=cat-worksheet").code == 0
    healthy = cli("doctor", "d1")
    assert healthy.code == 0, healthy.out
    lines = healthy.out.splitlines()
    assert len(lines) == len(DOCTOR_CHECKS) and all(li.startswith("✔") for li in lines)
    assert [li[2:].split(":", 1)[0] for li in lines] == list(DOCTOR_CHECKS)
    assert "12 of 12" in healthy.out and "1 members" in healthy.out
    assert "Q2 2026-10-19..2026-12-18" in healthy.out
    assert store.get_mapping(get_engine(get_settings().state_db_url), "d1") == {
        t: f"cat-{t.lower()}" for t in OTUS_TYPES
    }
    assert sis.state()["lineItems"] == []  # the write probe created nothing


def test_doctor_says_what_to_do_when_the_client_was_revoked(home: Path, sis: Sis) -> None:
    register("d1", sis.url)
    sis.admin("POST", f"tenants/d1/clients/{CLIENT_ID}/revoke")
    ran = cli("doctor", "d1")
    assert ran.code == 1
    first = ran.out.splitlines()[0]
    assert first.startswith("✘ credentials") and "rotate" in ran.out
    assert "passback district set d1 --client-secret" in ran.out
    assert CLIENT_SECRET not in ran.out + ran.err


def test_doctor_flags_a_district_without_the_api_licence(home: Path) -> None:
    with running_sis(small_world(), unlicensed) as sis:
        register("d1", sis.url)
        ran = cli("doctor", "d1")
    assert ran.code == 1
    line = next(li for li in ran.out.splitlines() if "licence and write scope" in li)
    assert line.startswith("✘") and "licence" in line
    assert "→" in ran.out.split(line, 1)[1]  # followed by what to do
    assert [li[0] for li in ran.out.splitlines() if li.startswith(("✔", "✘"))].count("✘") == 1


def test_mapping_set_refuses_an_inactive_category_and_lists_only_active_ones(home: Path, sis: Sis) -> None:
    register("d1", sis.url)
    before = cli("mapping", "show", "d1").out
    ran = cli("mapping", "set", "d1", "Quiz=Inactive")
    assert ran.code != 0 and "being deleted" in ran.err and "map to an active one" in ran.err
    assert "(cat-inactive)" not in ran.err.split("active one", 1)[1]  # not offered as a choice
    unknown = cli("mapping", "set", "d1", "Quiz=Nope")
    assert unknown.code != 0 and "not a category in the SIS" in unknown.err and "(cat-inactive)" not in unknown.err
    assert cli("mapping", "show", "d1").out == before  # nothing stored


def test_doctor_flags_a_mapping_to_an_inactive_category(home: Path, sis: Sis) -> None:
    register("d1", sis.url)
    store.set_mapping(get_engine(get_settings().state_db_url), "d1", {"Quiz": "cat-inactive"})  # deactivated since
    ran = cli("doctor", "d1")
    assert ran.code == 1
    line = next(li for li in ran.out.splitlines() if "categories district-level and active" in li)
    assert line.startswith("✘") and "Quiz" in line


def test_doctor_without_the_otus_source_db_says_so_and_still_checks_the_sis(home: Path, sis: Sis) -> None:
    register("d1", sis.url)
    (home / "otus.db").unlink()
    ran = cli("doctor", "d1")
    assert ran.code == 1 and ran.err == ""
    line = next(li for li in ran.out.splitlines() if "teacher group" in li)
    assert line.startswith("✘") and "cannot read the Otus source DB" in line and "PASSBACK_SOURCE_URL" in ran.out
    assert sum(li.startswith("✔") for li in ran.out.splitlines()) == len(DOCTOR_CHECKS) - 1


def test_doctor_of_an_unreachable_sis_is_one_failed_check(home: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    register("d1", dead)
    ran = cli("doctor", "d1")
    assert ran.code == 1
    assert ran.out.startswith("✘ SIS reachable: cannot reach the SIS at 127.0.0.1:") and "district d1" in ran.out
    assert "passback district show d1" in ran.out


def test_doctor_reports_a_grading_period_the_sis_marks_closed(home: Path, sis: Sis) -> None:
    """The SIS flags Q1 closed (metadata skyward.gradingPeriodClosed): doctor must not call it open."""
    register("d1", sis.url)
    ran = cli("doctor", "d1")
    line = next(li for li in ran.out.splitlines() if li[2:].startswith("grading periods"))
    assert "3 (2 open)" in line
    assert "Q1 2026-08-17..2026-10-16 closed" in line and "Q2 2026-10-19..2026-12-18 open" in line


def test_doctor_flags_an_effective_date_outside_the_school_year_and_an_empty_teacher_group(home: Path) -> None:
    w = small_world()
    w.group_members = w.group_members.iloc[0:0]
    with running_sis(w) as sis:
        register("d1", sis.url, effective_date=dt.date(2025, 8, 18))  # last school year
        ran = cli("doctor", "d1")
    assert ran.code == 1
    failed = {li[2:].split(":", 1)[0]: li for li in ran.out.splitlines() if li.startswith("✘")}
    assert set(failed) == {"effective date", "teacher group"}
    assert "2025-08-18 (outside the school year" in failed["effective date"]
    assert "passback district set d1 --effective-date" in ran.out
    assert "0 members" in failed["teacher group"] and "add the teachers" in ran.out
