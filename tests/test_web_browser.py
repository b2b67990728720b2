"""The gallery in a REAL headless Chromium (Debian's chromium + chromium-driver, driven by Selenium; nothing
is downloaded): load the grid, filter by category, open an image, press 4 and find the rating in the
library, reject with X, compare two images. Screenshots of the grid, the image page and the compare page
are kept under the test's tmp dir and copied to bench/out/ (look at them)."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from artimuse_web.app import create_app  # noqa: E402
from artimuse_web.server import free_port  # noqa: E402
from tests import chromium  # noqa: E402
from tests.web_library import scored_library  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium.available(), reason=chromium.MISSING),
]


@contextlib.contextmanager
def running_gallery(library, thumbnails: Path, poll_s: float = 1.0, **options):
    """The gallery over ``library`` served by uvicorn on a free loopback port (in a thread); yields its URL.
    ``options``: more of ``create_app``'s (``page_size``...)."""
    import uvicorn

    port = free_port()
    app = create_app(library, thumbnails=thumbnails, poll_s=poll_s, **options)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(10)


@pytest.fixture()
def server(tmp_path):
    library, paths = scored_library(tmp_path, 12)
    with running_gallery(library, tmp_path / "thumbnails") as url:
        yield url, library, paths
    library.close()


@pytest.fixture()
def browser(tmp_path):
    driver = chromium.start(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    return chromium.screenshot(driver, tmp_path, name)


def press(driver, *keys: str) -> None:
    """Type keys into whatever has the focus, as a person would."""
    ActionChains(driver).send_keys(*keys).perform()


def tiles(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#grid .tile")


def test_cull_rate_and_compare_in_a_real_browser(server, browser, tmp_path):
    url, library, paths = server
    wait = WebDriverWait(browser, 20)
    browser.get(url + "/")
    wait.until(lambda d: len(tiles(d)) == 12)
    wait.until(lambda d: all(i.get_property("complete") for i in d.find_elements(By.CSS_SELECTOR, ".tile img")))
    assert [float(t.find_element(By.CLASS_NAME, "score").text) for t in tiles(browser)][:3] == [90.0, 84.5, 79.0]
    assert screenshot(browser, tmp_path, "web_grid.png").stat().st_size > 10_000

    # Filter by category: htmx swaps the grid in place and pushes the URL.
    Select(browser.find_element(By.ID, "category")).select_by_visible_text("aigc")
    wait.until(lambda d: len(tiles(d)) == 4)
    assert {t.get_attribute("data-category") for t in tiles(browser)} == {"aigc"}
    assert "category=aigc" in browser.current_url

    # Open an image with the keyboard (Esc leaves the filter, arrows select the second tile, Enter), rate it 4
    # with the 4 key, then reject it with X.
    press(browser, Keys.ESCAPE, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    chosen = tiles(browser)[1]
    assert "selected" in chosen.get_attribute("class")
    target = int(chosen.get_attribute("data-id"))
    press(browser, Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".viewer"))
    wait.until(lambda d: d.find_element(By.ID, "large").get_property("naturalWidth") > 0)
    path = library.image_file(target).path
    press(browser, "a")  # auto-advance off: stay on this picture (on, a rating opens the next one)
    press(browser, "4")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-last-rating") == f"{target}:70")
    assert [(r.score, r.stars) for r in library.show(path).ratings] == [(70.0, 4.0)]
    assert browser.find_element(By.CSS_SELECTOR, ".user-rating").text == "★★★★☆"
    screenshot(browser, tmp_path, "web_image.png")
    press(browser, "x")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-last-rating") == f"{target}:0")
    assert library.show(path).ratings[0].score == 0.0

    # Compare two: back to the grid, C on two tiles, open Compare.
    browser.get(url + "/")
    wait.until(lambda d: len(tiles(d)) == 12)
    press(browser, Keys.ARROW_RIGHT, "c", Keys.ARROW_RIGHT, "c")
    link = browser.find_element(By.ID, "compare-link")
    wait.until(lambda d: link.is_displayed())
    link.click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".compare .column")) == 2)
    columns = browser.find_elements(By.CSS_SELECTOR, ".compare .column")
    assert "best" in columns[0].get_attribute("class")
    assert [c.find_element(By.CLASS_NAME, "big").text for c in columns] == ["90.0", "84.5"]
    screenshot(browser, tmp_path, "web_compare.png")
