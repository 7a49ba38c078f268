"""The page tests' headless Chromium, whose fake microphone plays a WAV once, and the demo recordings it plays."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from serve_fixtures import utterances_with_pauses

REPO = Path(__file__).resolve().parents[1]
DEMO_FILES = [REPO / "reference" / "audio" / name
              for name in ("0_jackson_0.wav", "1_theo_1.wav", "2_nicolas_2.wav", "3_yweweler_3.wav")]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
NO_CHROMIUM = "Chromium or chromedriver is absent (Debian: apt-get install chromium chromium-driver)"


def demo_audio(rate: int) -> np.ndarray:
    """The four demo recordings at RATE with 1.5 s pauses, 1 s before and 2 s after."""
    audio, _ = utterances_with_pauses(DEMO_FILES, rate=rate, pause=1.5, lead=1.0)
    return np.concatenate([audio, np.zeros(2 * rate, np.float32)])


def chromium(fake_audio: Path, window: str = "900,1000") -> object:
    """Headless Chromium whose microphone plays FAKE_AUDIO once; its console is kept (``get_log("browser")``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window}",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={fake_audio}%noloop",
                 "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-default-apps", "--disable-extensions"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
