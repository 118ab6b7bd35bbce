"""What a district's configuration may hold, and what reaches a terminal.

* URLs: no password in them, https (loopback excepted, or --allow-http), valid ports and IPv6
  literals — each refused with one line at ``district add/set``; a stored row from before the rule
  is never printed with its password (list, show, doctor) and cannot run.
* Options the README promises (--batch-size, --verify-tls/--no-verify-tls, --allow-http) exist and
  are validated; --concurrency is checked against the client's cap instead of being capped silently.
* Text from Otus, the SIS or a user reaches the terminal with control characters shown as escapes
  and rich markup printed literally.
* Files the CLI creates that hold data (state DB, Otus source DB, key) are readable by their owner only.
"""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from passback.scenario import SisCategory
from passback.settings import get_settings
from passback.store import districts as store
from passback.store.db import get_engine
from tests.cli.test_errors import add
from tests.toolkit import Sis, cli, register, running_sis, small_world, state_dump

HOSTILE = "\x1b[2J\x07[bold]Evil\x9b31m\u202e"  # clear screen, bell, markup, a C1 CSI, a bidi override
SHOWN = "\\x1b[2J\\x07[bold]Evil\\x9b31m\\u202e"  # what a terminal must show instead


def no_controls(text: str) -> bool:
    return not any((ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F or ch == "\u202e" for ch in text)


BAD_URLS = {
    "password in the URL": (
        "https://otus:hunter2@sis.example.org/ims/oneroster/v1p1",
        "contains a user name or password",
    ),
    "plain http to a remote host": ("http://sis.example.org/ims/oneroster/v1p1", "plain http"),
    "port out of range": ("https://sis.example.org:99999/ims", "port must be a number from 1 to 65535"),
    "port zero": ("https://sis.example.org:0/ims", "port must be a number from 1 to 65535"),
    "port not a number": ("https://sis.example.org:http/ims", "port must be a number from 1 to 65535"),
    "broken IPv6 literal": ("https://[::1/ims", "not a valid IP address literal"),
    "no host": ("https:///ims/oneroster/v1p1", "names no host"),
}


@pytest.mark.parametrize("case", list(BAD_URLS))
@pytest.mark.parametrize("option", ["--base-url", "--token-url"])
def test_a_bad_url_is_refused_at_add_and_set_with_one_line(home: Path, case: str, option: str) -> None:
    url, words = BAD_URLS[case]
    assert cli(*add()).code == 0
    before = state_dump(home)
    for args in (add(district="d3", **{option: url}), ["district", "set", "d2", option, url]):
        ran = cli(*args)
        assert ran.code != 0 and len(ran.err_lines) == 1, ran.err
        assert words in ran.err_lines[0] and option.strip("-").replace("-", "_") in ran.err_lines[0]
        assert "hunter2" not in ran.out + ran.err
    assert state_dump(home) == before


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/d1/ims/oneroster/v1p1",
        "http://127.5.0.1/x",
        "http://localhost:9/x",
        "http://[::1]:8765/x",
        "https://[2001:db8::1]:443/x",
        "https://sis.example.org:65535/x",
    ],
)
def test_loopback_http_ipv6_literals_and_valid_ports_are_accepted(home: Path, url: str) -> None:
    ran = cli(*add(**{"--base-url": url}))
    assert ran.code == 0, ran.err
    assert json.loads(cli("district", "show", "d2").out)["base_url"] == url.rstrip("/")


def test_allow_http_is_an_opt_in_stored_per_district_and_warned_on_every_run(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from passback.sync.district import client_for

    remote = "http://sis.test.internal/ims/oneroster/v1p1"
    assert cli(*add(**{"--base-url": remote}), "--allow-http").code == 0
    assert json.loads(cli("district", "show", "d2").out)["allow_http"] is True
    engine = get_engine(get_settings().state_db_url)
    for _ in range(2):  # every run, not once
        with caplog.at_level(logging.WARNING, logger="passback"):
            client_for(store.get_district(engine, "d2"))
    warnings = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 2 and "sis.test.internal" in warnings[0] and "d2" in warnings[0]

    ran = cli("district", "set", "d2", "--no-allow-http")  # the stored URL no longer passes: refused, unchanged
    assert ran.code != 0 and "plain http" in ran.err and "--allow-http" in ran.err
    assert store.get_district(engine, "d2").allow_http is True


def test_a_stored_url_with_a_password_is_masked_everywhere_and_cannot_run(home: Path) -> None:
    """A row written before the rule existed (straight into the DB)."""
    assert cli(*add()).code == 0
    engine = get_engine(get_settings().state_db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE district SET base_url = 'https://otus:hunter2@sis.example.org/ims/oneroster/v1p1'"))
    listed, shown, doctor = cli("district", "list"), cli("district", "show", "d2"), cli("doctor", "d2")
    for ran in (listed, shown, doctor):
        assert "hunter2" not in ran.out + ran.err
    assert "https://***@sis.example.org" in listed.out and "https://***@sis.example.org" in shown.out
    assert doctor.code == 1
    assert doctor.out.startswith("✘ SIS URLs: base URL:") and "contains a user name or password" in doctor.out
    with pytest.raises(ValueError, match="contains a user name or password") as failed:
        from passback.sync.district import client_for

        client_for(store.get_district(engine, "d2"))
    assert "hunter2" not in str(failed.value)


def test_batch_size_tls_switch_and_concurrency_are_set_and_validated(home: Path) -> None:
    assert cli(*add()).code == 0
    assert cli("district", "set", "d2", "--batch-size", "250", "--no-verify-tls").code == 0
    view = json.loads(cli("district", "show", "d2").out)
    assert (view["batch_size"], view["verify_tls"]) == (250, False)
    assert cli("district", "set", "d2", "--verify-tls", "--concurrency", "8").code == 0
    view = json.loads(cli("district", "show", "d2").out)
    assert (view["verify_tls"], view["concurrency"]) == (True, 8)

    before = state_dump(home)
    for args, words in (
        (["district", "set", "d2", "--batch-size", "0"], "batch_size"),
        (["district", "set", "d2", "--batch-size", "10001"], "batch_size"),
        (["district", "set", "d2", "--concurrency", "32"], "give 1 to 8"),
        (["district", "set", "d2", "--concurrency", "0"], "give 1 to 8"),
        (add(district="d3", **{"--concurrency": "9"}), "give 1 to 8"),
    ):
        ran = cli(*args)
        assert ran.code != 0 and len(ran.err_lines) == 1 and words in ran.err, (args, ran.err)
    assert state_dump(home) == before


def test_sync_concurrency_beyond_the_cap_is_one_line_before_anything_runs(home: Path, cli_process: Any) -> None:
    ran = cli_process("sync", "--concurrency", "32", "--json")
    assert ran.code == 2 and ran.out == ""
    assert len(ran.err_lines) == 1 and "--concurrency" in ran.err and "give 1 to 8" in ran.err, ran.err


def test_a_65_character_id_is_refused_for_its_length_before_the_secret_is_asked_for(home: Path) -> None:
    args = [a for a in add(district="H" * 65) if a not in ("--client-secret", "another-secret-99")]
    ran = cli(*args, env={"PASSBACK_CLIENT_SECRET": None})
    assert "Client secret" not in ran.out
    assert ran.code != 0 and len(ran.err_lines) == 1
    assert "65 characters long; at most 64" in ran.err and "letters of either case" not in ran.err


def test_state_db_key_and_source_db_are_readable_by_their_owner_only(home: Path) -> None:
    assert cli(*add()).code == 0
    assert cli("seed", "--preset", "demo").code == 0
    for name in ("state.db", "secret.key", "otus.db"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name


def hostile_categories(district: Any) -> None:
    """The SIS's category titles carry control characters and markup; one category is school-level."""
    district.categories += [
        SisCategory(sourcedId="cat-evil", title=f"Quiz {HOSTILE}"),
        SisCategory(sourcedId="cat-school", title=f"School {HOSTILE}", districtLevel=False),
    ]


@pytest.fixture
def hostile_sis(home: Path) -> Any:
    with running_sis(small_world(), hostile_categories) as sis:
        yield sis


def test_mapping_set_refuses_a_school_level_category_with_one_line(home: Path, hostile_sis: Sis) -> None:
    register("d1", hostile_sis.url)
    engine = get_engine(get_settings().state_db_url)
    before = store.get_mapping(engine, "d1")
    for given in ("cat-school", f"School {HOSTILE}"):
        ran = cli("mapping", "set", "d1", f"Quiz={given}")
        assert ran.code != 0 and len(ran.err_lines) == 1, ran.err
        assert "school-level category" in ran.err and "map to an active one (district-level)" in ran.err
        assert no_controls(ran.err) and "cat-school" not in ran.err.split("district-level):", 1)[1]
    assert store.get_mapping(engine, "d1") == before


def test_sis_and_user_text_reaches_the_terminal_neutralised(home: Path, hostile_sis: Sis) -> None:
    register("d1", hostile_sis.url, name=f"District {HOSTILE}")
    outputs = {"list": cli("district", "list"), "show": cli("district", "show", "d1")}
    outputs["map"] = cli("mapping", "set", "d1", "Quiz=cat-evil")  # a title from the SIS, echoed
    assert outputs["map"].code == 0, outputs["map"].err
    outputs["unknown category"] = cli("mapping", "set", "d1", "Quiz=No such")  # an error listing the SIS's titles
    assert outputs["unknown category"].code != 0
    store.set_mapping(get_engine(get_settings().state_db_url), "d1", {"Quiz": "cat-school"})
    outputs["doctor"] = cli("doctor", "d1")  # the ✘ line names the school-level category by its title
    assert outputs["doctor"].code == 1
    outputs["mapping show"] = cli("mapping", "show", "d1")

    for name, ran in outputs.items():
        assert no_controls(ran.out + ran.err), (name, ran.out + ran.err)
    assert f"District {SHOWN}" in outputs["list"].out  # the name as visible escapes, markup printed literally
    assert json.loads(outputs["show"].out)["name"] == f"District {SHOWN}"
    assert f"Quiz → cat-evil (Quiz {SHOWN})" in outputs["map"].out
    assert f"Quiz {SHOWN} (cat-evil)" in outputs["unknown category"].err
    doctor_line = next(li for li in outputs["doctor"].out.splitlines() if "categories district-level" in li)
    assert f"Quiz → School {SHOWN} (it is a school-level category" in doctor_line


def test_an_error_description_with_control_characters_is_one_visible_line() -> None:
    from passback.cli.common import friendly_error, safe

    exc = RuntimeError(f"the SIS answered: {HOSTILE}\x1d\r\x85 [red]resubmit[/red]\nsecond line")
    line = friendly_error(exc)
    assert no_controls(line) and "\n" not in line
    assert SHOWN in line and "\\x1d\\x0d\\x85 [red]resubmit[/red]" in line
    assert safe("[red]x[/red]") == "\\[red]x\\[/red]"  # printed literally by rich


def test_the_consoles_never_fail_on_text_that_is_not_markup_and_never_pass_controls() -> None:
    """A printing path that forgot ``safe`` (a table cell, a summary line) still neither crashes on a
    SIS message such as ``[/x]`` nor lets a control character through."""
    import io

    from rich.table import Table

    from passback.cli.common import SafeConsole

    out = io.StringIO()
    console = SafeConsole(file=out, width=200)  # not a terminal: rich adds no escapes of its own
    table = Table("message")
    table.add_row(f"refused: {HOSTILE} [/x] resubmit")
    console.print(table)
    console.print(f"[red]✘ d1[/red]: the SIS said [/bogus] {HOSTILE}")
    text = out.getvalue()
    assert "[/x] resubmit" in text and "the SIS said [/bogus]" in text
    assert no_controls(text) and "\\x1b[2J\\x07" in text
