"""Framing, in a REAL headless Chromium: a page of another origin that frames the gallery gets nothing (the
browser refuses to render it: X-Frame-Options DENY, CSP frame-ancestors 'none'), so the gallery's rating keys
can never be pressed inside someone else's page; the gallery itself still works (CSP allows its own scripts)."""

from __future__ import annotations

import http.server
import threading

import pytest

from tests import chromium
from tests.test_web_browser import browser, server  # noqa: F401 - the fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium.available(), reason=chromium.MISSING),
]


@pytest.fixture()
def framing_page(tmp_path, server):  # noqa: F811
    """A page on another origin (another port) that frames the gallery's grid."""
    url, _, _ = server
    (tmp_path / "frame.html").write_text(f'<html><body><iframe id="g" src="{url}/" width="800" height="600"></iframe>')
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/frame.html"
    httpd.shutdown()


def test_another_origin_cannot_frame_the_gallery(browser, server, framing_page):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, library, paths = server
    browser.get(framing_page)
    frame = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "g"))
    browser.switch_to.frame(frame)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    shown = browser.execute_script("return location.href")
    tiles = browser.find_elements(By.CSS_SELECTOR, "a.tile")
    browser.switch_to.default_content()
    assert shown.startswith("chrome-error://") and tiles == [], shown  # refused: nothing of the gallery inside
    said = [e["message"] for e in browser.get_log("browser")]  # (reading the log empties it)
    assert any("frame-ancestors 'none'" in message for message in said), said
    browser.get(url + "/")  # the gallery itself, top level: its scripts run under its own policy
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a.tile"))
    assert browser.execute_script("return typeof htmx") == "object"
    errors = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert errors == [], errors
