"""A photographer culls stacks in the gallery, in a REAL headless Chromium: a library the stacks core grouped from real
photographs (a burst of four astronaut frames, a pair of coffee cups, single shots; ``tests.stack_library``). The
grid shows each stack once, as its best with a "×N" badge whose tooltip is the library's reason; a new picture
arrives and the page waits past its live refresh (nothing moves, the highlight stays, an "N new" bar appears); B on
a collapsed stack takes its best and rejects the rest; S opens the burst beside its best, with the reason; B on
another member takes that one instead; N brings the new picture in with the stack still open, now led by the pick,
the highlight where it was; S closes it again. The library holds every decision. Screenshots (grid with badges, an
open stack) go to bench/out/ (or ``ARTIMUSE_SHOTS``)."""

from __future__ import annotations

import json
import shutil
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("imagehash")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from artimuse_core import file_hash  # noqa: E402
from artimuse_core.library import ScoredFile, file_facts  # noqa: E402
from tests import chromium  # noqa: E402
from tests.shoot import skimage_data  # noqa: E402
from tests.stack_library import stacked_library  # noqa: E402
from tests.test_web_browser import browser, press, running_gallery  # noqa: E402,F401
from tests.web_library import result  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium.available(), reason=chromium.MISSING),
]

SHOWN = "#grid .tile:not(.folded)"


def shown(driver) -> list[str]:
    """The names of the tiles shown, read in one go (a swap may replace them between two reads)."""
    return driver.execute_script(f"return [...document.querySelectorAll('{SHOWN}')].map((t) => t.dataset.name)")


def body(driver, name: str) -> str:
    return driver.find_element(By.TAG_NAME, "body").get_attribute(f"data-{name}") or ""


def tile(driver, image_id: int):
    return driver.find_element(By.CSS_SELECTOR, f'{SHOWN}[data-id="{image_id}"]')


def painted(driver) -> bool:
    return all(i.get_property("naturalWidth") > 0 for i in driver.find_elements(By.CSS_SELECTOR, f"{SHOWN} img"))


def badges(driver) -> dict:
    """The badges shown, by the name of the tile that wears them."""
    found = driver.find_elements(By.CSS_SELECTOR, ".stack-badge")
    return {b.find_element(By.XPATH, "ancestor::a").get_attribute("data-name"): b for b in found if b.is_displayed()}


def test_stacks_collapse_open_and_take_the_best_in_the_grid(tmp_path, browser):  # noqa: F811
    made = stacked_library(tmp_path)
    library, wait = made.library, WebDriverWait(browser, 20)
    with running_gallery(library, tmp_path / "thumbnails", poll_s=1.0) as url:
        browser.get(url + "/")
        # Each stack once, as its best (by lower bound: astro_2, coffee_1), in score order; singles as they are.
        wait.until(lambda d: shown(d) == ["astro_2.jpg", "chelsea.jpg", "coffee_1.jpg", "rocket.jpg", "camera.jpg"])
        wait.until(painted)
        worn = badges(browser)
        assert {name: b.text for name, b in worn.items()} == {"astro_2.jpg": "×4", "coffee_1.jpg": "×2"}
        assert "highest lower bound" in worn["astro_2.jpg"].get_attribute("title")
        assert "B" in browser.find_element(By.CSS_SELECTOR, "footer.keys").text  # the keys are in the key help
        chromium.screenshot(browser, tmp_path, "stacks_grid_badges.png")

        # Highlight the coffee stack, then a new picture arrives while the user looks past the live refresh.
        press(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
        coffee = made.id("coffee_1.jpg")
        assert body(browser, "highlighted") == str(coffee)
        before = shown(browser)
        new = tmp_path / "photos" / "hubble.jpg"
        shutil.copy(skimage_data() / "hubble_deep_field.jpg", new)
        library.record_scores([ScoredFile(file_facts(new), result(new, 20, 95.0, 1.0), "photography", "option")])
        library.record_hashes({str(new): file_hash(new)})
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#new-bar .new-bar"))
        time.sleep(3.2)  # past three refreshes (poll_s=1)
        assert "1 new picture" in browser.find_element(By.CSS_SELECTOR, "#new-bar .new-bar").text
        assert shown(browser) == before and body(browser, "highlighted") == str(coffee)

        # B on the collapsed stack: its best is picked, the rest rejected, in one press.
        press(browser, "b")
        wait.until(lambda d: json.loads(body(d, "last-stack") or "{}").get("winner") == coffee)
        assert json.loads(body(browser, "last-stack"))["rejected"] == [made.id("coffee_2.jpg")]
        assert library.show(made.paths["coffee_1.jpg"]).ratings[0].picked
        assert library.show(made.paths["coffee_2.jpg"]).ratings[0].rejected
        assert "pick" in tile(browser, coffee).text and "rejected" in browser.find_element(
            By.CSS_SELECTOR, f'#grid .tile[data-id="{made.id("coffee_2.jpg")}"]'
        ).get_attribute("class")

        # S opens the burst beside its best, with the reason; the members are highlighted and decided as any tile.
        astro = made.id("astro_2.jpg")
        press(browser, Keys.ARROW_LEFT, Keys.ARROW_LEFT)
        assert body(browser, "highlighted") == str(astro)
        press(browser, "s")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .tile.in-stack")) == 3)
        assert shown(browser)[:4] == ["astro_2.jpg", "astro_3.jpg", "astro_1.jpg", "astro_4.jpg"]  # best first
        panel = browser.find_element(By.CSS_SELECTOR, ".stack-panel").text
        assert "Stack of 4" in panel and "best: astro_2.jpg" in panel and "highest lower bound" in panel
        wait.until(painted)
        press(browser, Keys.ARROW_RIGHT)  # the user prefers the sharper crop: take it instead of the model's best
        winner = made.id("astro_3.jpg")
        assert body(browser, "highlighted") == str(winner)
        press(browser, "b")
        wait.until(lambda d: json.loads(body(d, "last-stack") or "{}").get("winner") == winner)
        rest = {made.id(n) for n in ("astro_1.jpg", "astro_2.jpg", "astro_4.jpg")}
        assert set(json.loads(body(browser, "last-stack"))["rejected"]) == rest
        assert library.show(made.paths["astro_3.jpg"]).ratings[0].picked
        for name in ("astro_1.jpg", "astro_2.jpg", "astro_4.jpg"):
            assert library.show(made.paths[name]).ratings[0].rejected, name
        for other in rest:
            assert "rejected" in tile(browser, other).get_attribute("class")
        assert "pick" in tile(browser, winner).text
        assert "your pick: astro_3.jpg" in browser.find_element(By.CSS_SELECTOR, ".stack-panel").text
        chromium.screenshot(browser, tmp_path, "stacks_open_taken.png")

        # N brings the new picture in: the open stack stays open, now led by the pick (the library's best since
        # B), and the highlight stays on the same picture.
        press(browser, "n")
        wait.until(lambda d: shown(d)[:2] == ["hubble.jpg", "astro_3.jpg"])
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .tile.in-stack")) == 3)
        assert shown(browser)[:5] == ["hubble.jpg", "astro_3.jpg", "astro_2.jpg", "astro_1.jpg", "astro_4.jpg"]
        assert body(browser, "highlighted") == str(winner)
        assert "your pick (astro_3.jpg)" in browser.find_element(By.CSS_SELECTOR, ".stack-panel").text

        # S closes it: the members fold away; the stacks stand as one tile each, the pick for the burst.
        press(browser, "s")
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#grid .in-stack, #grid .stack-panel"))
        assert body(browser, "highlighted") == str(winner)
        assert shown(browser) == [
            "hubble.jpg",
            "astro_3.jpg",
            "chelsea.jpg",
            "coffee_1.jpg",
            "rocket.jpg",
            "camera.jpg",
        ]

        # In the loupe B acts on the picture shown: the coffee cup's twin replaces the earlier pick.
        twin = made.id("coffee_2.jpg")
        browser.get(url + f"/image/{twin}")
        wait.until(lambda d: "One of 2 near-duplicates" in d.find_element(By.CSS_SELECTOR, ".side").text)
        press(browser, "b")
        wait.until(lambda d: json.loads(body(d, "last-stack") or "{}").get("winner") == twin)
        assert library.show(made.paths["coffee_2.jpg"]).ratings[0].picked
        assert library.show(made.paths["coffee_1.jpg"]).ratings[0].rejected
        assert all(library.show(made.paths[n]).ratings == [] for n in made.singles)
    library.close()


def test_a_next_page_bringing_a_stacks_best_moves_nothing(tmp_path, browser):  # noqa: F811
    """One picture per page: the burst's first member in the ranking (astro_3, 82) arrives before its best
    (astro_2, by lower bound) and stands for the stack; the pages after it bring the best in, and the tile the
    user highlighted stays where it is, standing for its stack."""
    made = stacked_library(tmp_path)
    wait = WebDriverWait(browser, 20)
    with running_gallery(made.library, tmp_path / "thumbnails", poll_s=1.0, page_size=1) as url:
        browser.get(url + "/")
        wait.until(lambda d: shown(d)[:1] == ["astro_3.jpg"])
        press(browser, Keys.ARROW_RIGHT)
        assert body(browser, "highlighted") == str(made.id("astro_3.jpg"))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .tile")) == 9)  # every page loaded
        assert shown(browser) == ["astro_3.jpg", "chelsea.jpg", "coffee_1.jpg", "rocket.jpg", "camera.jpg"]
        assert body(browser, "highlighted") == str(made.id("astro_3.jpg"))
        assert tile(browser, made.id("astro_3.jpg")).find_element(By.CSS_SELECTOR, ".stack-badge").text == "×4"
    made.library.close()
