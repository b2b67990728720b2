"""Debian's headless Chromium for the browser tests (the gallery's, the ComfyUI frontend's), driven by
Selenium through Debian's chromedriver (both paths given, so nothing is downloaded), with a fresh profile
each time; screenshots are kept under the test's tmp dir and copied to bench/out/ (or the folder
``ARTIMUSE_SHOTS`` names) for people to look at."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("ARTIMUSE_SHOTS") or Path(__file__).resolve().parents[1] / "bench" / "out")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
MISSING = "needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"


def available() -> bool:
    return CHROMIUM.exists() and DRIVER.exists()


def start(profile: Path, size: tuple[int, int] = (1440, 900)):
    """A Selenium Chrome driver on Debian's chromium, with ``profile`` as its fresh user-data-dir."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--window-size={size[0]},{size[1]}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(DRIVER)))


def screenshot(driver, folder: Path, name: str) -> Path:
    """Save a screenshot under ``folder`` and copy it to ``ARTIFACTS``."""
    time.sleep(0.3)  # let lazy images paint
    shot = folder / name
    driver.save_screenshot(str(shot))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / name)
    return shot
