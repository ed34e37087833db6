"""A small WebDriver client for headless Chromium, on the standard library alone.

It drives ``chromedriver`` through its W3C WebDriver HTTP API (https://www.w3.org/TR/webdriver2/)
with ``urllib`` and ``json``; no selenium or playwright is needed::

    with browser_session() as page:          # starts chromedriver and one headless Chromium
        page.navigate(path.as_uri())
        page.execute("return document.images.length")
        png = page.screenshot()              # PNG bytes of the viewport
        errors = page.console_errors()       # browser console entries at level SEVERE

Chromium runs headless, without sandbox or GPU, with a fresh empty profile and its background
network features switched off (they would log failures on a machine without network). The
console log comes from chromedriver's logging extension (``POST /session/{id}/se/log``, enabled
by the ``goog:loggingPrefs`` capability): it holds everything the page logged from the start of
its load, uncaught script errors and failed resource loads included, which a handler injected
after navigation would miss. The session is deleted and chromedriver ended on leaving the
``with`` block, also when it is left by an exception.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
"""Browser executables looked up on PATH, in this order."""
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--hide-scrollbars")
"""Chromium flags: headless, no sandbox (root in containers), no GPU, /tmp instead of a small /dev/shm,
no network of its own; hidden scrollbars keep screenshots and ``innerWidth`` independent of them."""
START_TIMEOUT_S = 20.0
"""How long chromedriver may take to answer ``/status`` after its start."""
REQUEST_TIMEOUT_S = 60.0
"""How long one WebDriver command may take (starting the browser is the slowest)."""


class WebDriverError(RuntimeError):
    """A WebDriver command failed; the message holds chromedriver's error and message."""


def find_browser() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` executables found on PATH, or None when either is missing."""
    chromium = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    """One WebDriver session (one browser window), talking to chromedriver at ``url``."""

    def __init__(self, url: str, session_id: str):
        self.url = f"{url}/session/{session_id}"

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        return _request(method, self.url + path, body)

    def navigate(self, url: str) -> None:
        """Open ``url`` (``file://`` works) and wait until the page has loaded."""
        self._call("POST", "/url", {"url": url})

    def execute(self, script: str, *args: Any) -> Any:
        """Run ``script`` as the body of a function in the page (``arguments`` holds ``args``); its return value."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, full_page: bool = False) -> bytes:
        """The visible part of the page (the viewport) as PNG bytes; ``full_page``: the whole page.

        The whole page is captured through chromedriver's DevTools pass-through
        (``Page.captureScreenshot`` with ``captureBeyondViewport``), as W3C WebDriver has no
        full-page screenshot; the window keeps its size, so the layout is the viewport's.
        """
        if not full_page:
            return base64.b64decode(self._call("GET", "/screenshot"))
        width, height = self.execute("const e = document.documentElement; return [e.scrollWidth, e.scrollHeight]")
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        params = {"format": "png", "captureBeyondViewport": True, "clip": clip}
        answer = self._call("POST", "/goog/cdp/execute", {"cmd": "Page.captureScreenshot", "params": params})
        return base64.b64decode(answer["data"])

    def set_window_size(self, width: int, height: int) -> dict:
        """Resize the window; returns the rectangle the browser reports (``width``, ``height``, ...).

        The page gets the whole width (``window.innerWidth == width``); of the height, headless
        Chromium keeps about 140 px for a window frame it does not draw.
        """
        return self._call("POST", "/window/rect", {"width": width, "height": height})

    def console(self) -> list[dict]:
        """Browser console entries (``level``, ``message``, ``source``, ``timestamp``) since the last call.

        ``/se/log`` is chromedriver's own endpoint, not W3C (checked with chromedriver 150).
        """
        return self._call("POST", "/se/log", {"type": "browser"})

    def console_errors(self) -> list[dict]:
        """The console entries at level SEVERE (script errors, failed loads) since the last call."""
        return [e for e in self.console() if e.get("level") == "SEVERE"]


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talks to chromedriver on 127.0.0.1 directly, whatever ``http_proxy`` says."""


def _request(method: str, url: str, body: dict | None = None, timeout: float = REQUEST_TIMEOUT_S) -> Any:
    """One WebDriver command: JSON in, the ``value`` of the JSON answer out; errors raise WebDriverError."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with _OPENER.open(req, timeout=timeout) as answer:
            return json.loads(answer.read() or b"{}").get("value")
    except urllib.error.HTTPError as err:  # WebDriver errors come as 4xx/5xx with a JSON body
        try:
            value = json.loads(err.read()).get("value", {})
        except ValueError:
            value = {}
        message = value.get("message", "").splitlines()[0] if value.get("message") else ""
        raise WebDriverError(f"{method} {url}: {value.get('error', err.code)}: {message}") from None


@contextmanager
def browser_session(chromium: str | None = None, chromedriver: str | None = None,
                    width: int = 1280, height: int = 900) -> Iterator[Session]:
    """Start chromedriver and a headless Chromium window of ``width`` x ``height``; yield its :class:`Session`.

    The executables default to those :func:`find_browser` finds. On leaving, the session is
    deleted (closing Chromium), chromedriver is terminated and the temporary profile removed.

    Raises
    ------
    FileNotFoundError
        If no Chromium or chromedriver is found.
    WebDriverError
        If chromedriver does not start or refuses the session (its log is quoted).
    """
    if chromium is None or chromedriver is None:
        found = find_browser()
        if found is None:
            raise FileNotFoundError("chromium and chromedriver not found on PATH")
        chromium, chromedriver = chromium or found[0], chromedriver or found[1]
    with tempfile.TemporaryDirectory(prefix="segtrain-browser-", ignore_cleanup_errors=True) as tmp:
        log = Path(tmp) / "chromedriver.log"
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            driver = subprocess.Popen([chromedriver, f"--port={port}"], stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        session_id, closed = None, False
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    if (_request("GET", f"{url}/status", timeout=2) or {}).get("ready"):
                        break
                except (OSError, WebDriverError):
                    pass
                if driver.poll() is not None or time.monotonic() > deadline:
                    raise WebDriverError(f"chromedriver did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)
            options = {"binary": chromium,
                       "args": [*CHROMIUM_ARGS, f"--user-data-dir={Path(tmp) / 'profile'}",
                                f"--window-size={width},{height}"]}
            capabilities = {"browserName": "chrome", "goog:chromeOptions": options,
                            "goog:loggingPrefs": {"browser": "ALL"}}
            try:
                answer = _request("POST", f"{url}/session", {"capabilities": {"alwaysMatch": capabilities}})
            except WebDriverError as err:
                raise WebDriverError(f"{err}\nchromedriver log: {log.read_text(errors='replace')[-2000:]}") from None
            session_id = answer["sessionId"]
            yield Session(url, session_id)
        finally:
            try:
                if session_id is not None:
                    _request("DELETE", f"{url}/session/{session_id}", timeout=10)  # closes Chromium
                    closed = True
            except (OSError, WebDriverError):
                pass
            finally:
                _stop(driver, browser_too=not closed)


def _stop(driver: subprocess.Popen, browser_too: bool) -> None:
    """End chromedriver; with ``browser_too``, the Chromium it started as well (its own process group)."""
    if browser_too:  # the session was not deleted: Chromium may still run, in chromedriver's group
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    driver.terminate()
    try:
        driver.wait(timeout=5)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver.wait()
