"""Drive Debian's Chromium (through Playwright) over the built site and report what a reader would see broken.

`inspect_page` returns a list of problems for one page: console errors, requests to other hosts,
raw TeX left in the text, images that did not load, animations whose player does not advance.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The book theme logs this once on a fresh browser profile (an empty stored theme mode); it is harmless.
HARMLESS_CONSOLE_ERRORS = ("Got invalid theme mode",)


def require_chromium():
    """Skip locally when Chromium is missing; fail in CI (.ci/run sets DNNCOURSE_BROWSER_TESTS=1)."""
    if CHROMIUM.exists():
        return
    if os.environ.get("DNNCOURSE_BROWSER_TESTS"):
        pytest.fail("DNNCOURSE_BROWSER_TESTS is set but /usr/bin/chromium is missing (apt-get install -y chromium)")
    pytest.skip("Chromium is not installed (apt-get install -y chromium); .ci/run runs these tests")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(directory: Path):
    """Serve ``directory`` on a free localhost port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


_RAW_TEX = r"""() => {
  const article = document.querySelector('article') || document.body;
  const copy = article.cloneNode(true);
  const hidden = 'pre, code, .cell_output, .output, mjx-container, script, style, .math';
  copy.querySelectorAll(hidden).forEach(e => e.remove());
  const text = copy.innerText;
  const hits = [];
  for (const pattern of [/\$\$/g, /\\[a-zA-Z]{2,}/g, /\\\[|\\\(/g]) {
    const m = text.match(pattern);
    if (m) hits.push(...m.slice(0, 3));
  }
  const untypeset = [...article.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).length;
  return {hits, untypeset, typeset: article.querySelectorAll('mjx-container').length};
}"""

_IMAGES = r"""async () => {
  const images = [...document.querySelectorAll('article img')];
  const results = await Promise.all(images.map(async img => {
    img.loading = 'eager';
    try { await img.decode(); } catch (e) {}
    return {src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0, alt: img.getAttribute('alt') || ''};
  }));
  return results;
}"""


def _wait_for_mathjax(page) -> None:
    page.wait_for_function(
        "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)", timeout=20000
    )
    page.evaluate("() => window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise : null")


def check_animations(page) -> list[str]:
    """Press play on every matplotlib JS animation and check that its frame slider moves."""
    problems = []
    for index, animation in enumerate(page.query_selector_all("div.animation")):
        slider = animation.query_selector("input.anim-slider")
        play = animation.query_selector("button[title='Play']")
        if slider is None or play is None:
            problems.append(f"animation {index}: no player controls")
            continue
        before = slider.evaluate("s => s.value")
        play.click()
        page.wait_for_timeout(800)
        after = slider.evaluate("s => s.value")
        animation.query_selector("button[title='Pause']").click()
        if before == after:
            problems.append(f"animation {index}: the frame did not advance after pressing play ({before})")
    return problems


def inspect_page(browser, url: str, screenshot: Path | None = None) -> list[str]:
    """Load ``url`` in a fresh page and return every problem a reader would notice."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    local = urlparse(url).netloc

    def on_console(message):
        if message.type != "error" or any(h in message.text for h in HARMLESS_CONSOLE_ERRORS):
            return
        if message.location.get("url", "").endswith("favicon.ico"):
            return
        problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def on_request(request):
        parsed = urlparse(request.url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.netloc != local:
            problems.append(f"request to another host: {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", on_request)
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        problems.append(f"status {response.status if response else 'none'} for {url}")
    _wait_for_mathjax(page)
    tex = page.evaluate(_RAW_TEX)
    if tex["hits"]:
        problems.append(f"raw TeX left in the text: {tex['hits']}")
    if tex["untypeset"]:
        problems.append(f"{tex['untypeset']} math elements were not typeset by MathJax")
    for image in page.evaluate(_IMAGES):
        if not image["ok"]:
            problems.append(f"image did not load: {image['src']}")
        elif not image["alt"].strip() or re.search(r"\.(png|jpe?g|svg|gif)$", image["alt"].strip()):
            problems.append(f"figure without alt text (set the cell's mystnb.image.alt metadata): {image['src']}")
    problems += check_animations(page)
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return problems
