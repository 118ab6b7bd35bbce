"""The data team's path in a real browser (headless Chromium from Debian, driven by Playwright):
the demo district's report index → the latest run → the over-long title under title_too_long with
its meaning and value, and the score-level reasons with counts per assessment; after a second run
the index lists both runs; nothing is loaded from the network.

Screenshots go to a temporary folder, or to $PASSBACK_SCREENSHOTS (e.g. docs/img) to refresh the
README's pictures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from passback.settings import get_settings

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Any:
    if not Path(CHROMIUM).exists() or not _has_playwright():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium and pip's playwright (.ci/run installs both)")
        pytest.skip("needs /usr/bin/chromium (apt-get install chromium) and playwright (pip)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("PASSBACK_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_the_data_team_finds_every_held_back_row_in_the_report(demo_sync: Any, browser: Any, tmp_path: Path) -> None:
    first = demo_sync()
    assert first.status == "completed" and first.data_docs
    root = get_settings().docs_dir.resolve()
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("request", lambda r: requests.append(r.url))

    page.goto((root / "index.html").as_uri())
    page.get_by_role("link", name="demo", exact=True).click()
    assert page.locator("tr.run").count() == 1
    page.locator("tr.run").first.get_by_role("link", name="report").click()

    section = page.locator("section#title_too_long")
    assert "title length 78 of at most 49" in section.locator("td.value").first.inner_text()
    assert "too long for Skyward" in section.locator("p.meaning").inner_text()
    assert "Shorten the assessment name" in section.locator("p.fix").inner_text()
    title = section.locator("tr[data-assessment] td").nth(1).inner_text()
    assert len(title) == 78

    for code in ("not_yet_due", "not_yet_graded", "score_excluded"):
        listing = page.locator(f"section#{code} tr[data-assessment]")
        assert listing.count() >= 1, code
        counts = [int(c.replace(",", "")) for c in page.locator(f"section#{code} td.score-count").all_inner_texts()]
        assert sum(counts) == first.reasons[code], code  # every score under the reason, counted per assessment
    excluded = page.locator("section#score_excluded td.students").first
    excluded.locator("summary").click()
    assert excluded.locator("tbody tr").count() >= 1  # the students: Otus id, Skyward id, name

    page.set_viewport_size({"width": 1400, "height": 1800})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots(tmp_path) / "report.png"))
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(shots(tmp_path) / "report-reasons.png"))

    second = demo_sync()
    assert second.status == "completed" and second.writes == 0
    page.goto((root / "demo" / "index.html").as_uri())
    runs = page.locator("tr.run")
    assert runs.count() == 2
    assert page.locator("svg.trend").count() == 2  # writes, and held-back rows per reason
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=str(shots(tmp_path) / "report-index.png"))
    runs.first.get_by_role("link", name="report").click()
    assert "0 assessments newly held back, 0 newly passing" in page.locator("#changes + p").inner_text()

    page.goto((root / "demo" / "index.html").as_uri())
    page.locator("tr.run").first.get_by_role("link", name="report").click()
    page.get_by_role("link", name="Great Expectations Data Docs of this run").click()
    assert "Passback validation run" in page.content()

    assert requests and all(u.startswith("file://") for u in requests), [
        u for u in requests if not u.startswith("file://")
    ]
    shutil.rmtree(root)  # nothing else reads it
