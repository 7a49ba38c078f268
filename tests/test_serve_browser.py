"""The live page in a real headless Chromium: its fake microphone plays FSDD recordings, the page shows the finals."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import soundfile as sf

pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

import phonedge  # noqa: E402
from browser_fixtures import CHROMEDRIVER, CHROMIUM, DEMO_FILES, NO_CHROMIUM, chromium, demo_audio  # noqa: E402
from serve_fixtures import ServerProcess  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Set to a path (e.g. docs/serve-page.png) to keep the screenshot; the test always writes one in tmp_path.
SCREENSHOT_ENV = "PHONEDGE_SCREENSHOT"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=NO_CHROMIUM),
]


def test_page_shows_the_finals_of_the_fake_microphone(reference_bundles: dict[str, Path], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    files = DEMO_FILES
    rec = phonedge.load(reference_bundles["int8"], threads=1)
    expected = [rec.predict(f).label for f in files]
    assert expected == ["0", "1", "2", "3"]
    audio = demo_audio(48000)
    fake = tmp_path / "mic.wav"
    sf.write(fake, audio, 48000, subtype="PCM_16")

    with ServerProcess(reference_bundles["int8"], "--workers", "2") as server:
        browser = chromium(fake)
        try:
            browser.get(server.url + "/?autostart=1")
            deadline = time.monotonic() + len(audio) / 48000 + 30
            labels: list[str] = []
            while time.monotonic() < deadline:
                finals = browser.find_elements(By.CLASS_NAME, "final")
                labels = [el.get_attribute("data-label") for el in finals if el.get_attribute("data-text")]
                if len(labels) >= len(files):
                    break
                time.sleep(0.5)
            browser.find_element(By.ID, "file").send_keys(str(files[0]))  # the upload calls /v1/predict
            upload = ""
            while time.monotonic() < deadline + 30 and not upload:
                upload = browser.find_element(By.ID, "file-text").text
                time.sleep(0.2)
            time.sleep(1.0)  # let the bars and the status line settle for the screenshot
            shot = tmp_path / "serve-page.png"
            browser.save_screenshot(str(shot))
            status = browser.find_element(By.ID, "status").text
            texts = [el.get_attribute("data-text") for el in browser.find_elements(By.CLASS_NAME, "final")]
            styled = browser.execute_script("return getComputedStyle(document.body).maxWidth")  # page.css loaded
            log = browser.get_log("browser") if hasattr(browser, "get_log") else []
        finally:
            browser.quit()
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(shot, os.environ[SCREENSHOT_ENV])
    assert shot.stat().st_size > 10_000
    assert styled == "820px", f"the page's stylesheet did not apply (body max-width {styled})"
    assert labels == expected, f"finals {texts}, status {status!r}, console {log}"
    assert upload == f"{rec.predict(files[0]).text} → {expected[0]}"
