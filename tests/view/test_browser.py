"""In a real browser: Debian's chromium, headless, driven by Playwright (system browser through
``executable_path``; Playwright never downloads one). Checks what a person does: drag the wipe and
see before left / after right in the rendered pixels, play a cine loop with both sides in step,
upload to ``pocusiq serve`` (the real command, on a free 127.0.0.1 port), see the enhanced image,
download it, watch the live stream.

Skipped, with the reason, only where the chromium package or Playwright is missing
(``make test`` installs both where it runs as root). ``POCUSIQ_CHROMIUM=/path/to/chromium`` picks
another build of the browser.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import speckle, write_clip, write_png

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def _chromium() -> str | None:
    explicit = os.environ.get("POCUSIQ_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    if path is None and os.environ.get("POCUSIQ_CHROMIUM"):
        pytest.skip(f"POCUSIQ_CHROMIUM={os.environ['POCUSIQ_CHROMIUM']} is not a file")
    if path is None:
        pytest.skip("Debian's chromium package is not installed (make test installs it with "
                    "'apt-get install -y chromium' when run as root); browser tests need it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start; a small /dev/shm
        # in containers crashes tabs unless shared memory goes to /tmp
        chromium = playwright.chromium.launch(executable_path=path,
                                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"script errors in the page: {errors}"


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)


def _drag(page, selector: str, fraction: float) -> None:
    box = page.locator(selector).bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (fraction + 0.5) / 2, y, steps=3)
    page.mouse.move(box["x"] + box["width"] * fraction, y, steps=3)
    page.mouse.up()


def _split(shot: np.ndarray, fraction: float) -> tuple[float, float]:
    """Mean brightness left and right of the wipe line (a few px away from it)."""
    cut = int(round(shot.shape[1] * fraction))
    return float(shot[:, 2 : cut - 4].mean()), float(shot[:, cut + 4 : -2].mean())


def test_view_page_wipe_moves_with_the_mouse_and_the_range(tmp_path, page):
    from pocusiq.cli import main

    # dark "before", bright "after": the rendered pixels show which side is which
    write_png(tmp_path / "b" / "scan.png", np.full((120, 240), 30, np.uint8))
    write_png(tmp_path / "a" / "scan.png", np.full((120, 240), 220, np.uint8))
    html = tmp_path / "view.html"
    assert main(["view", "--before", str(tmp_path / "b"), "--after", str(tmp_path / "a"), "--out", str(html)]) == 0
    page.goto(html.as_uri())
    wipe = page.locator(".wipe").first
    left, right = _split(_pixels(wipe.screenshot()), 0.5)
    assert left < 50 and right > 200
    _drag(page, ".wipe", 0.25)
    assert float(wipe.get_attribute("data-pos")) == pytest.approx(0.25, abs=0.02)
    shot = _pixels(wipe.screenshot())
    left, right = _split(shot, 0.25)
    assert left < 50 and right > 200
    assert shot[:, int(shot.shape[1] * 0.3) :].mean() > 200  # what was before at 30-50 % is now after
    _drag(page, ".wipe", 0.9)
    assert _split(_pixels(wipe.screenshot()), 0.9)[0] < 50
    page.locator("input.wipe-range").first.fill("100")  # the range under the image (keyboard users)
    assert float(wipe.get_attribute("data-pos")) == pytest.approx(0.1, abs=0.002)


def test_view_page_cine_plays_both_sides_in_step(tmp_path, page):
    from pocusiq.cli import main

    for folder, level in (("b", 0), ("a", 1)):
        write_clip(tmp_path / folder / "loop.avi", 16)
    html = tmp_path / "view.html"
    assert main(["view", "--before", str(tmp_path / "b"), "--after", str(tmp_path / "a"), "--out", str(html),
                 "--no-scores"]) == 0
    page.goto(html.as_uri())
    card = page.locator(".card.cine")
    data = page.evaluate("JSON.parse(document.querySelector('script.cine-data').textContent)")
    assert len(data["before"]) == 16
    before_box = card.locator(".wipe img.before").bounding_box()
    after_box = card.locator(".wipe img.after").bounding_box()
    assert after_box["x"] >= before_box["x"] + before_box["width"]  # side by side, not on top
    assert after_box["width"] == pytest.approx(before_box["width"], abs=1)
    card.locator("button.layout").click()  # -> wipe: after lies on the before image
    after_box = card.locator(".wipe img.after").bounding_box()
    assert after_box["x"] == pytest.approx(card.locator(".wipe img.before").bounding_box()["x"], abs=1)
    card.locator("button.layout").click()
    card.locator("button.play").click()
    page.wait_for_function("() => document.querySelector('.card.cine').dataset.frame >= 4", timeout=5000)
    card.locator("button.play").click()  # pause
    frame = int(card.get_attribute("data-frame"))
    srcs = page.evaluate("[...document.querySelectorAll('.card.cine .wipe img')].map(i => i.src)")
    assert srcs == [data["before"][frame], data["after"][frame]]
    card.locator("input.scrub").fill("11")
    srcs = page.evaluate("[...document.querySelectorAll('.card.cine .wipe img')].map(i => i.src)")
    assert srcs == [data["before"][11], data["after"][11]]
    assert "frame 12 / 16" in card.locator(".frame-label").inner_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_checkpoint):
    """``pocusiq serve --model tiny --port 0`` as a user starts it; yields its URL."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                       os.environ.get("PYTHONPATH", "")]))
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as sink:
        process = subprocess.Popen([sys.executable, "-m", "pocusiq.cli", "serve", "--model", str(tiny_checkpoint),
                                    "--port", "0", "--engine", "torch"], stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            found = re.search(r"open (http://127\.0\.0\.1:\d+)/", log.read_text())
            if found:
                url = found.group(1)
            elif process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pocusiq serve did not start: {log.read_text()}")
            else:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_upload_shows_enhanced_image_slider_and_download(tmp_path, page, served, tiny_checkpoint):
    from pocusiq.enhance.enhancer import Enhancer

    image = speckle(120, 200, seed=3)
    upload = write_png(tmp_path / "scan.png", image)
    page.goto(served + "/")
    page.set_input_files("#file", str(upload))
    page.wait_for_selector("#result:not([hidden])", timeout=30000)
    after = page.locator("#result img.after")
    page.wait_for_function("() => document.querySelector('#result img.after').naturalWidth > 0")
    assert page.evaluate("document.querySelector('#result img.after').naturalWidth") == 200
    expected = Enhancer.from_checkpoint(tiny_checkpoint, engine="torch")(image)
    shown = _pixels(page.request.get(served + after.get_attribute("src")).body())
    np.testing.assert_array_equal(shown, expected)
    _drag(page, "#result .wipe", 0.3)
    assert float(page.locator("#result .wipe").get_attribute("data-pos")) == pytest.approx(0.3, abs=0.02)
    assert page.locator("#scores tr[data-metric=niqe]").count() == 1
    with page.expect_download() as info:
        page.locator("#downloads a.download").first.click()
    download = info.value
    assert download.suggested_filename == "scan_enhanced.png"
    np.testing.assert_array_equal(_pixels(Path(download.path()).read_bytes()), expected)


def test_serve_bad_file_shows_the_error_in_the_page(tmp_path, page, served):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    page.goto(served + "/")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=20000)
    assert "broken.png: cannot read image" in page.locator("#error").inner_text()


def test_serve_live_view_shows_stream_and_frame_rate(tmp_path, page, served):
    clip = write_clip(tmp_path / "live.avi", 40, height=96, width=128)
    page.goto(served + "/")
    page.fill("#live-source", str(clip))
    page.click("#live-start")
    page.wait_for_function("() => document.querySelector('#live-img').naturalWidth === 128", timeout=20000)
    page.wait_for_function("() => Number(document.querySelector('#live-stats').dataset.frames) >= 5", timeout=20000)
    assert "frames/s" in page.locator("#live-stats").inner_text()
    page.fill("#live-source", "/etc/passwd")
    page.click("#live-start")
    page.wait_for_selector("#live-error:not([hidden])")
    assert "expected a capture device index" in page.locator("#live-error").inner_text()
