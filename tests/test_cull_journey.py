"""A photographer culls a real shoot end to end: `artimuse score` of a folder of real photographs (two bursts, a
HEIC, a CMYK JPEG, an EXIF-rotated portrait, a 16-bit scan; the FakeEngine injected into the real CLI), the
gallery in a REAL headless Chromium, a wait past its live refresh while a new file is dropped into the folder
and scored, culling with the keys in the grid, the loupe (100 %, EXIF panel) and Compare, `artimuse xmp
write`, exiftool reading every decision back (stars, -1 rejects, the pick label), and `ratings import` of the
sidecars into a fresh library bringing the decisions back. Screenshots of grid, loupe and compare are kept
under the test's tmp dir and copied to bench/out/ (or ``ARTIMUSE_SHOTS``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("pillow_heif")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from artimuse_core.config import load_config  # noqa: E402
from artimuse_core.library import Library  # noqa: E402
from tests import chromium  # noqa: E402
from tests.shoot import exif_for, make_shoot, skimage_data  # noqa: E402
from tests.test_web_browser import browser, press, running_gallery, tiles  # noqa: E402,F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium.available(), reason=chromium.MISSING),
    pytest.mark.skipif(not shutil.which("exiftool"), reason="needs exiftool (apt-get install -y exiftool)"),
]


def names(driver) -> list[str]:
    return [t.get_attribute("data-name") for t in tiles(driver)]


def highlighted(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-highlighted")


def last_decision(driver) -> dict:
    return json.loads(driver.find_element(By.TAG_NAME, "body").get_attribute("data-last-decision") or "{}")


def decided(driver, wait, image_id: str, **expected) -> dict:
    """Wait until the page says the decision on ``image_id`` is stored with these values."""
    wait.until(lambda d: last_decision(d).get("id") == int(image_id) and expected.items() <= last_decision(d).items())
    return last_decision(driver)


def exiftool(*paths: Path) -> dict[str, dict]:
    done = subprocess.run(
        ["exiftool", "-j", "-XMP-xmp:Rating", "-XMP-xmp:Label", *map(str, paths)], capture_output=True, text=True
    )
    return {Path(entry["SourceFile"]).name: entry for entry in json.loads(done.stdout)}


@pytest.fixture()
def gallery(home):
    library = Library(config=load_config())
    with running_gallery(library, home / "thumbnails", poll_s=1.0) as url:
        yield url, library
    library.close()


def test_cull_a_real_shoot_in_grid_loupe_and_compare_and_find_every_decision_in_xmp(
    tmp_path,
    home,
    run_cli,
    fake_engines,
    monkeypatch,
    gallery,
    browser,  # noqa: F811 (the browser fixture)
):
    url, library = gallery
    monkeypatch.chdir(tmp_path)
    shoot = make_shoot(tmp_path / "shoot")
    scored = run_cli("score", "shoot")
    assert scored.exit_code == 0, scored.output
    assert "10 scored" in scored.output and "shoot/IMG_0130.heic" in scored.output  # relative as named
    ids = {Path(p).name: library.image_id(str(p.resolve())) for p in shoot.files}
    wait = WebDriverWait(browser, 20)

    # The grid in shooting order (EXIF capture time with sub-seconds: the bursts' frames in order).
    browser.get(url + "/?rank=captured&stacks=all")  # every frame of the bursts, to cull them one by one
    wait.until(lambda d: len(tiles(d)) == 10)
    assert names(browser) == [p.name for p in shoot.files]
    wait.until(lambda d: all(i.get_property("naturalWidth") > 0 for i in d.find_elements(By.CSS_SELECTOR, ".tile img")))

    # Highlight the third frame of the first burst, then look at it longer than the live refresh while a new
    # picture arrives: the grid does not move, a bar says there is one new picture, the highlight stays.
    press(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert highlighted(browser) == str(ids["IMG_0103.jpg"])
    before = names(browser)
    retina = tmp_path / "shoot" / "IMG_0170.jpg"
    from PIL import Image

    Image.open(skimage_data() / "retina.jpg").save(retina, exif=exif_for("10:40:00", "00"), quality=90)
    assert run_cli("score", "shoot").exit_code == 0
    started = time.monotonic()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#new-bar .new-bar"))
    time.sleep(max(0.0, 3.2 - (time.monotonic() - started)))  # past three refreshes (poll_s=1)
    assert "1 new picture" in browser.find_element(By.CSS_SELECTOR, "#new-bar .new-bar").text
    assert names(browser) == before and highlighted(browser) == str(ids["IMG_0103.jpg"])
    chromium.screenshot(browser, tmp_path, "cull_grid_new_bar.png")

    # Cull in the grid: 4 stars, auto-advance to the next; X rejects it; P picks the one after.
    press(browser, "4")
    assert decided(browser, wait, str(ids["IMG_0103.jpg"]), stars=4)["score"] == 70
    wait.until(lambda d: highlighted(d) == str(ids["IMG_0110.jpg"]))
    assert "IMG_0103.jpg" in browser.find_element(By.ID, "toast").text  # the toast names the picture
    press(browser, "x")
    decided(browser, wait, str(ids["IMG_0110.jpg"]), rejected=True)
    wait.until(lambda d: highlighted(d) == str(ids["IMG_0111.jpg"]))
    press(browser, "p")
    decided(browser, wait, str(ids["IMG_0111.jpg"]), picked=True)
    wait.until(lambda d: highlighted(d) == str(ids["IMG_0120.jpg"]))

    # Open the new picture: the grid takes it in, the highlight stays on the same picture.
    press(browser, "n")
    wait.until(lambda d: len(tiles(d)) == 11)
    assert names(browser)[-1] == "IMG_0170.jpg" and highlighted(browser) == str(ids["IMG_0120.jpg"])
    assert "selected" in browser.find_element(By.CSS_SELECTOR, f'.tile[data-id="{ids["IMG_0120.jpg"]}"]').get_attribute(
        "class"
    )
    tile = lambda name: browser.find_element(By.CSS_SELECTOR, f'.tile[data-id="{ids[name]}"]')  # noqa: E731
    assert "★★★★☆" in tile("IMG_0103.jpg").text and "rejected" in tile("IMG_0110.jpg").get_attribute("class")
    assert "pick" in tile("IMG_0111.jpg").text  # the decisions show on the tiles the refresh brought back
    assert chromium.screenshot(browser, tmp_path, "cull_grid.png").stat().st_size > 50_000

    # The loupe on the CMYK JPEG: its EXIF panel, 100 %, 2 stars, and auto-advance to the HEIC.
    press(browser, Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".viewer"))
    wait.until(lambda d: d.find_element(By.ID, "large").get_property("naturalWidth") > 0)
    panel = browser.find_element(By.CSS_SELECTOR, "table.exif").text
    for fact in ("Canon EOS R6", "RF24-70mm F2.8 L IS USM", "1/250 s", "f/2.8", "400", "50 mm", "2026-05-01 10:10:00"):
        assert fact in panel, (fact, panel)
    chromium.screenshot(browser, tmp_path, "cull_loupe.png")
    press(browser, "z")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-zoom") == "100")
    full = Image.open(shoot.cmyk).size[0]
    wait.until(lambda d: d.find_element(By.ID, "large").get_property("naturalWidth") == full)  # the whole picture
    chromium.screenshot(browser, tmp_path, "cull_loupe_100.png")
    press(browser, "z", "2")  # stored, then auto-advance opens the next picture
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'.viewer[data-id="{ids["IMG_0130.heic"]}"]'))
    assert library.show(str(shoot.cmyk.resolve())).ratings[0].stars == 2
    wait.until(lambda d: d.find_element(By.ID, "large").get_property("naturalWidth") > 0)  # the HEIC shows
    press(browser, "p")  # auto-advance opens the portrait next
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'.viewer[data-id="{ids["IMG_0140.jpg"]}"]'))
    assert library.show(str(shoot.heic.resolve())).ratings[0].picked

    # Compare the first burst: pick the winner, reject the others with one key.
    browser.get(url + "/?rank=captured&stacks=all")  # every frame of the bursts, to cull them one by one
    wait.until(lambda d: len(tiles(d)) == 11)
    press(browser, Keys.ARROW_RIGHT, "c", Keys.ARROW_RIGHT, "c", Keys.ARROW_RIGHT, "c")
    link = browser.find_element(By.ID, "compare-link")
    wait.until(lambda d: link.is_displayed())
    link.click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".compare .column")) == 3)
    wait.until(
        lambda d: all(i.get_property("naturalWidth") > 0 for i in d.find_elements(By.CSS_SELECTOR, ".column img"))
    )
    press(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert highlighted(browser) == str(ids["IMG_0102.jpg"])
    press(browser, "p")
    decided(browser, wait, str(ids["IMG_0102.jpg"]), picked=True)
    press(browser, "r")
    wait.until(lambda d: "Rejected the 2 others" in d.find_element(By.ID, "toast").text)
    chromium.screenshot(browser, tmp_path, "cull_compare.png")

    expected = {  # name: (what the library holds as the latest decision: stars, picked, rejected)
        "IMG_0101.jpg": (None, False, True),
        "IMG_0102.jpg": (None, True, False),
        "IMG_0103.jpg": (None, False, True),
        "IMG_0110.jpg": (None, False, True),
        "IMG_0111.jpg": (None, True, False),
        "IMG_0120.jpg": (2.0, False, False),
        "IMG_0130.heic": (None, True, False),
    }
    for name, (stars, picked, rejected) in expected.items():
        latest = library.show(str((tmp_path / "shoot" / name).resolve())).ratings[0]
        assert (latest.stars, latest.picked, latest.rejected) == (stars, picked, rejected), name

    # Into XMP for the photo manager; exiftool, the independent reader, finds every decision.
    written = run_cli("xmp", "write", "shoot")
    assert written.exit_code == 0, written.output
    tags = exiftool(*sorted((tmp_path / "shoot").glob("*.xmp")))
    for name, (stars, picked, rejected) in expected.items():
        found = tags[name + ".xmp"]
        if rejected:
            assert found["Rating"] == -1, name
        elif stars:
            assert found["Rating"] == int(stars), name
        assert (found.get("Label") == "Green") == picked, (name, found)
    model = {n: tags[n + ".xmp"]["Rating"] for n in ("IMG_0140.jpg", "IMG_0150.png", "IMG_0160.jpg")}
    assert all(1 <= r <= 5 for r in model.values())  # undecided: the model's stars (xmp_rating yours-or-model)

    # The sidecars into a fresh library (another machine, a lost database): the decisions come back, the
    # model's stars do not.
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "other-home"))
    imported = run_cli("ratings", "import", "shoot", "--json")
    assert imported.exit_code == 0, imported.output
    counts = json.loads(imported.stdout)["counts"]
    assert counts["ours"] == 4  # IMG_0140, 0150, 0160, 0170: the model's stars, never taken as the user's
    again = Library(config=load_config())
    for name, (stars, picked, rejected) in expected.items():
        latest = again.show(str((tmp_path / "shoot" / name).resolve())).ratings[0]
        assert (latest.stars, latest.picked, latest.rejected, latest.source) == (stars, picked, rejected, "user"), name
    again.close()


def test_a_highlight_past_the_first_page_survives_new_pictures_and_a_picture_gone_is_never_replaced(
    tmp_path,
    browser,  # noqa: F811 (the browser fixture)
):
    """Opening new pictures reloads the grid with every tile the user had scrolled to (not one page), so the
    highlight stays and a key rates it; when the highlighted picture leaves the grid (a filter), a key stores
    nothing rather than rating another picture in its place."""
    from selenium.webdriver.support.ui import Select

    from artimuse_core.library import ScoredFile, file_facts
    from tests.web_library import picture, result, scored_library

    library, paths = scored_library(tmp_path, 12)
    wait = WebDriverWait(browser, 20)
    with running_gallery(library, tmp_path / "thumbnails", poll_s=1.0, page_size=4) as url:
        browser.get(url + "/")
        wait.until(lambda d: len(tiles(d)) >= 4)  # the first page (the next ones load as the end shows)
        for k in range(10):  # along the grid with the arrows: each page loads as the end scrolls into view
            wait.until(lambda d, k=k: len(tiles(d)) > k)
            press(browser, Keys.ARROW_RIGHT)
            wait.until(lambda d, k=k: highlighted(d) == str(library.image_id(str(paths[k]))))
        target = library.image_id(str(paths[9]))
        assert highlighted(browser) == str(target) and len(tiles(browser)) == 12

        new = picture(tmp_path / "photos" / "new.jpg", 40)
        library.record_scores([ScoredFile(file_facts(new), result(new, 40, 99.0, 1.0), "aigc", "option")])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#new-bar .new-bar"))
        browser.execute_script(  # what the grid holds the moment the new pictures come in (before any next page)
            "document.body.addEventListener('htmx:afterSwap', () => { window.afterNew = window.afterNew ||"
            " {tiles: document.querySelectorAll('#grid .tile').length,"
            " kept: !!document.querySelector('#grid .tile.selected[data-id=\"' + arguments[0] + '\"]')}; });",
            str(target),
        )
        press(browser, "n")
        wait.until(lambda d: d.execute_script("return window.afterNew"))
        assert browser.execute_script("return window.afterNew") == {"tiles": 13, "kept": True}  # not one page
        wait.until(lambda d: len(tiles(d)) == 13)  # the new picture (first: it scores 99) and all twelve
        assert names(browser)[0] == "new.jpg" and highlighted(browser) == str(target)
        press(browser, "3")
        decided(browser, wait, str(target), stars=3)
        assert [r.stars for r in library.show(str(paths[9])).ratings] == [3]
        assert library.show(str(new)).ratings == []

        now = highlighted(browser)  # auto-advance moved on to the next picture
        assert now == str(library.image_id(str(paths[10])))
        category = browser.find_element(By.CSS_SELECTOR, f'.tile[data-id="{now}"]').get_attribute("data-category")
        other = next(c for c in ("photography", "aigc", "painting") if c != category)
        Select(browser.find_element(By.ID, "category")).select_by_visible_text(other)
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'.tile[data-id="{now}"]'))
        press(browser, Keys.ESCAPE, "2")
        wait.until(lambda d: "nothing stored" in d.find_element(By.ID, "toast").text)
        assert all(library.show(str(p)).ratings == [] for p in (*paths[:9], *paths[10:], new))
    library.close()
