"""The runs page in a real headless Chromium: the step timeline renders, one coloured bar per step.

Chromium and its WebDriver are Debian's `chromium` and `chromium-driver`, installed by
`make setup` (`scripts/ensure-browser`). The test is skipped only when they are missing.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.integration.test_runs_page import TOKEN, dash_world, finish_a_run
from tests.world import World

__all__ = ["dash_world"]  # the fixture, imported for this module's tests

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
GREEN = (0x2D, 0xA4, 0x4E)  # the `ok` bar colour of bot/web/runpage.py
TRACK = (0xF6, 0xF8, 0xFA)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromium-driver are not installed: scripts/ensure-browser (make setup) installs them as "
           "root with apt-get")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium through chromedriver, with a fresh profile and no background networking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900", "--force-device-scale-factor=1",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def test_timeline_renders_one_coloured_bar_per_step(dash_world: World, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    run_id = finish_a_run(dash_world)
    started = [e for e in dash_world.services.store.entries(run_id) if e["event"] == "started"]

    browser.get(f"{dash_world.web_url}/runs/{run_id}?token={TOKEN}")  # sets the cookie, redirects without it
    assert browser.current_url == f"{dash_world.web_url}/runs/{run_id}"
    assert run_id in browser.title
    timeline = browser.find_element(By.ID, "timeline")
    assert timeline.is_displayed() and timeline.size["width"] > 400 and timeline.size["height"] > 0
    bars = browser.find_elements(By.CSS_SELECTOR, "#timeline .bar")
    assert len(bars) == len(started) >= 7
    assert all(bar.is_displayed() and bar.size["width"] >= 3 and bar.size["height"] >= 10 for bar in bars)

    shot = tmp_path / "run-page.png"
    assert browser.save_screenshot(str(shot))
    if os.environ.get("ISSUESMITH_TEST_SCREENSHOT_DIR"):  # to look at it by eye
        shutil.copy(shot, Path(os.environ["ISSUESMITH_TEST_SCREENSHOT_DIR"]) / "run-page.png")
    page = Image.open(shot).convert("RGB")
    for bar in bars:  # each bar's centre is painted in the `ok` colour where the browser says the bar is
        x = int(bar.location["x"] + bar.size["width"] / 2)
        y = int(bar.location["y"] + bar.size["height"] / 2)
        assert near(page.getpixel((x, y)), GREEN), (bar.get_attribute("title"), page.getpixel((x, y)))

    strip = Image.open(io.BytesIO(timeline.screenshot_as_png)).convert("RGB")
    raw = strip.tobytes()
    pixels = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    green = sum(1 for p in pixels if near(p, GREEN))
    assert green >= len(bars) * 3 * 10  # every bar at least 3 px wide and 10 px high
    assert any(near(p, TRACK, 2) for p in pixels)  # the grey track the bars sit on
