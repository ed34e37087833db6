"""``report.html`` opened in headless Chromium: its images decode and show, the console stays clean,
the screenshot is not blank, and at phone width nothing scrolls sideways.

The same checks run on small broken pages too, to show that they catch what they look for.
Needs ``chromium`` and ``chromedriver`` on PATH (``tests/reporting/install_browser.sh``, or
``apt-get install chromium chromium-driver``); the tests skip without them. One browser is
shared by the module; each page is opened with :func:`open_page`, which first drains the
console log so that every test sees only its own page's entries.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from helpers.browser import Session, browser_session, find_browser

DESKTOP = (1280, 900)
PHONE = (390, 844)
"""Window sizes (CSS pixels): a laptop and a current phone held upright."""
MIN_COLOURS = 64
"""A rendered report holds figures and text in many colours; a blank or failed page has a few."""
MIN_STD = 8.0
"""Standard deviation of the screenshot's pixel values (0-255) below which it counts as blank."""

IMAGES_JS = """
return Array.from(document.images).map(img => {
  const r = img.getBoundingClientRect();
  return {alt: img.alt, src: img.src.slice(0, 60), complete: img.complete, natural: img.naturalWidth,
          left: r.left, right: r.right, width: r.width};
});
"""
WIDTHS_JS = "return [document.documentElement.scrollWidth, window.innerWidth];"

pytestmark = pytest.mark.skipif(  # a mark, not a skip in the fixture: it comes before the run is trained
    find_browser() is None,
    reason="headless Chromium not installed: run tests/reporting/install_browser.sh or "
           "'apt-get install chromium chromium-driver'")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium at desktop size, shared by the module."""
    with browser_session(width=DESKTOP[0], height=DESKTOP[1]) as page:
        yield page


def open_page(page: Session, path, size=DESKTOP) -> None:
    """Resize the window to ``size`` and load ``path``, after draining the console log of earlier pages."""
    page.console()
    page.set_window_size(*size)
    page.navigate(path.as_uri())


def images(page: Session) -> list[dict]:
    """Every ``<img>`` of the page: whether it decoded (``complete``, ``natural`` width) and where it sits."""
    return page.execute(IMAGES_JS)


def broken(found: list[dict]) -> list[dict]:
    """The images that did not decode or take no space on the page."""
    return [i for i in found if not (i["complete"] and i["natural"] > 0 and i["width"] > 0)]


def blank(png: bytes) -> str:
    """Why a PNG screenshot looks blank: too few colours or too little contrast; ``""`` when it does not."""
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        rgb = im.convert("RGB")
    colours = rgb.getcolors(MIN_COLOURS)  # None when there are more
    std = sum(ImageStat.Stat(rgb).stddev) / 3
    return (f"only {len(colours)} colour(s)" if colours is not None else
            f"pixel standard deviation {std:.1f} < {MIN_STD}" if std < MIN_STD else "")


def test_report_renders_at_desktop_width(browser, tiny_report, tmp_path):
    open_page(browser, tiny_report)
    found = images(browser)
    assert len(found) >= 5
    assert broken(found) == []
    png = browser.screenshot(full_page=True)
    (tmp_path / "report_desktop.png").write_bytes(png)
    assert blank(png) == "", f"blank screenshot: {tmp_path / 'report_desktop.png'}"
    assert browser.console_errors() == []


def test_report_fits_a_phone(browser, tiny_report, tmp_path):
    open_page(browser, tiny_report, PHONE)
    scroll_width, inner_width = browser.execute(WIDTHS_JS)
    assert inner_width == PHONE[0]
    png = browser.screenshot(full_page=True)
    (tmp_path / "report_phone.png").write_bytes(png)
    assert scroll_width <= inner_width + 1, f"the page scrolls sideways on a phone: {tmp_path / 'report_phone.png'}"
    found = images(browser)
    assert broken(found) == []
    assert [i["alt"] for i in found if i["left"] < -1 or i["right"] > inner_width + 1] == []
    assert browser.console_errors() == []


def test_checks_catch_a_broken_page(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
                    '<img src="missing.png" alt="missing"><img src="data:image/png;base64,AAAA" alt="corrupt">\n'
                    '<div style="width:1000px">wide</div>\n<script>notDefined();</script>\n</body></html>\n')
    open_page(browser, page, PHONE)
    assert sorted(i["alt"] for i in broken(images(browser))) == ["corrupt", "missing"]
    errors = browser.console_errors()
    assert any(e["source"] == "javascript" and "notDefined" in e["message"] for e in errors), errors
    assert any(e["source"] == "network" and "missing.png" in e["message"] for e in errors), errors
    scroll_width, inner_width = browser.execute(WIDTHS_JS)
    assert scroll_width > inner_width + 1  # the wide block makes the page scroll sideways


def test_blank_page_is_called_blank(browser, tmp_path):
    page = tmp_path / "blank.html"
    page.write_text('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body></body></html>\n')
    open_page(browser, page)
    assert blank(browser.screenshot()) == "only 1 colour(s)"
    assert browser.console_errors() == []
