"""The front page's picture: a real screenshot of the gallery, for people to look at (not a test itself;
``tests/test_docs.py`` runs it into a temporary file so that it keeps working).

The five sample images and scikit-image's photographs (``tests/shoot.py``) are scored through the library's
one door with the test suite's ``FakeEngine`` (canned seeded scores and critiques: the picture shows the
interface, not a model's judgement) into a library in a temporary folder, a few get stars, a pick and a
reject as a person would give them, the gallery is served on a free loopback port and headless Chromium
(Debian's, through Selenium) photographs the grid; the shot is saved as a small WebP (or PNG)::

    python -m tests.gallery_screenshot docs/img/gallery.webp
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

from artimuse_core.library import Library, ingest
from artimuse_core.testing import FakeEngine
from tests import chromium
from tests.shoot import make_shoot

REPO = Path(__file__).resolve().parents[1]
#: The browser window, and the width the saved picture is scaled to (a README column is about 900 px).
WINDOW, WIDTH = (1360, 860), 1100


def photograph(target: Path) -> Path:
    """Write the gallery's screenshot to ``target`` (``.webp`` or ``.png``); returns it.

    Raises:
        RuntimeError: Debian's chromium or chromedriver is missing.
    """
    if not chromium.available():
        raise RuntimeError(chromium.MISSING)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.test_web_browser import running_gallery

    with tempfile.TemporaryDirectory(prefix="artimuse-shot-") as scratch:
        folder = Path(scratch)
        photos = folder / "photos"
        shoot = make_shoot(photos / "shoot")
        for sample in sorted((REPO / "samples").iterdir()):
            shutil.copy(sample, photos / sample.name)
        library = Library.at(folder / "library.db")
        try:
            files = sorted(p for p in photos.rglob("*") if p.is_file())
            results = list(ingest(FakeEngine(), library, files, critique=["Composition & Design"]))
            assert all(r.status == "scored" for r in results), [(r.path, r.error) for r in results]
            library.rate(shoot.bursts[0][0], stars=5, picked=True)
            library.rate(shoot.bursts[0][1], rejected=True)
            library.rate(photos / "sunset.jpg", stars=4)
            library.rate(shoot.singles[0], stars=3)
            with running_gallery(library, folder / "thumbnails") as url:
                driver = chromium.start(folder / "profile", size=WINDOW)
                try:
                    driver.get(url + "/")
                    # Every picture has its tile (a folded stack's members too), and every image shown has
                    # loaded; a tile folded away is not displayed, so its lazy image may never load.
                    WebDriverWait(driver, 60).until(
                        lambda d: (
                            len(d.find_elements(By.CSS_SELECTOR, "#grid .tile img")) >= len(results)
                            and d.execute_script(
                                "return [...document.querySelectorAll('#grid .tile img')]"
                                ".filter(i => i.offsetParent !== null).every(i => i.complete && i.naturalWidth > 0)"
                            )
                        )
                    )
                    shot = chromium.screenshot(driver, folder, "gallery.png")
                finally:
                    driver.quit()
        finally:
            library.close()
        return save(shot, target)


def save(shot: Path, target: Path) -> Path:
    """The screenshot scaled to ``WIDTH`` and saved small: WebP (quality 80) or an optimised PNG."""
    with Image.open(shot) as image:
        image = image.convert("RGB")
        image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.Resampling.LANCZOS)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() == ".webp":
            image.save(target, "WEBP", quality=80, method=6)
        else:
            image.save(target, "PNG", optimize=True)
    return target


if __name__ == "__main__":  # pragma: no cover - run by hand
    out = photograph(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/gallery.webp"))
    print(f"{out}: {out.stat().st_size / 1024:.0f} KB")
