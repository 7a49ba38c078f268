"""The static on-device page (``phonedge web``) in a real headless Chromium: no phonedge server, the browser runs
the bundle (onnxruntime-web), and its fake microphone's four demo recordings give the Python stream's finals."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

webdriver = pytest.importorskip("selenium.webdriver")

import phonedge  # noqa: E402
from browser_fixtures import CHROMEDRIVER, CHROMIUM, DEMO_FILES, NO_CHROMIUM, chromium, demo_audio  # noqa: E402
from phonedge.ondevice import site_detector, site_server, write_site  # noqa: E402
from phonedge.vad import vad_available  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HAS_ORT_WEB = (REPO / "web" / "node_modules" / "onnxruntime-web").is_dir()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=NO_CHROMIUM),
    pytest.mark.skipif(not HAS_ORT_WEB, reason="web/node_modules is missing: run 'make web-deps' (npm ci in web/)"),
]


def python_finals(bundle: Path, audio_48k: np.ndarray) -> list[tuple[str, str]]:
    """(text, label) of the Python stream's finals on the same audio at the model rate."""
    import soxr

    rec = phonedge.load(bundle, threads=1)
    x = soxr.resample(audio_48k, 48000, rec.sample_rate).astype(np.float32)
    stream = rec.stream()
    events = []
    for start in range(0, len(x), 1600):
        events += stream.accept(x[start : start + 1600])
    events += stream.finish()
    return [(e.text, e.label or "") for e in events if e.kind == "final" and (e.text or e.label)]


def test_chromium_predicts_pythons_answers(reference_bundles: dict[str, Path], tmp_path: Path) -> None:
    """The 120 FSDD test utterances predicted in Chromium: Python's text, tokens, times, labels and reasons."""
    import json

    from selenium.webdriver.common.by import By

    bundle = reference_bundles["int8"]
    rec = phonedge.load(bundle, threads=1)
    site = write_site(bundle, tmp_path / "site")
    shutil.copyfile(REPO / "web" / "harness.html", site / "harness.html")
    shutil.copyfile(REPO / "web" / "test" / "browser" / "check.js", site / "check.js")
    cases, expected, offset = [], [], 0
    with open(site / "samples.f32", "wb") as f:
        for path in sorted((REPO / "reference" / "audio").glob("*.wav")):
            x = rec.prepare_audio(path)
            f.write(x.astype("<f4").tobytes())
            cases.append({"offset": offset, "length": len(x)})
            expected.append(rec.predict(x, rec.sample_rate).to_dict())
            offset += len(x)
    (site / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    server = site_server(site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = chromium(DEMO_FILES[0], window="900,900")
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/harness.html?run=check.js")
        deadline, text = time.monotonic() + 300, "running"
        while time.monotonic() < deadline and text == "running":
            time.sleep(0.5)
            text = browser.find_element(By.ID, "result").text
    finally:
        browser.quit()
        server.shutdown()
    assert text.startswith("["), text
    got = json.loads(text)
    assert len(got) == len(expected) == 120

    def key(p: dict) -> tuple:
        tokens = [(t["id"], t["start"], t["end"]) for t in p["tokens"]]
        return p["text"], tokens, p.get("label"), p.get("label_reason")

    assert [key(p) for p in got] == [key(p) for p in expected]


def test_page_gives_the_python_streams_finals(reference_bundles: dict[str, Path], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    bundle = reference_bundles["int8"]
    site = write_site(bundle, tmp_path / "site")
    assert {p.name for p in (site / "ort").iterdir()} >= {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.wasm"}
    assert "Cross-Origin-Embedder-Policy: require-corp" in (site / "_headers").read_text()
    # The page runs the Python stream's default detector: Silero VAD where silero-vad is installed, else energy.
    detector = "silero" if vad_available() else "energy"
    assert site_detector(site) == detector
    audio = demo_audio(48000)
    fake = tmp_path / "mic.wav"
    sf.write(fake, audio, 48000, subtype="PCM_16")
    expected = python_finals(bundle, sf.read(fake, dtype="float32")[0])
    assert [label for _, label in expected] == ["0", "1", "2", "3"]

    server = site_server(site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = chromium(fake, window="900,900")
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/?autostart=1")
        deadline = time.monotonic() + len(audio) / 48000 + 60
        finals: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            finals = [(el.get_attribute("data-text"), el.get_attribute("data-label"))
                      for el in browser.find_elements(By.CLASS_NAME, "final")]
            failed = "error" in (browser.find_element(By.ID, "status").get_attribute("class") or "")
            if len(finals) >= len(expected) or failed:
                break
            time.sleep(0.5)
        status = browser.find_element(By.ID, "status").text
        model = browser.find_element(By.ID, "model").text
        shown = browser.find_element(By.ID, "detector").get_attribute("data-detector")
        isolated = browser.execute_script("return self.crossOriginIsolated")
        styled = browser.execute_script("return getComputedStyle(document.body).maxWidth")  # page.css loaded
        log = browser.get_log("browser")
    finally:
        browser.quit()
        server.shutdown()
    assert isolated, "the page is not cross-origin isolated: no threads"
    assert styled == "820px", f"the page's stylesheet did not apply (body max-width {styled})"
    assert "thread" in model
    assert shown == detector, f"the page runs the {shown} detector, Python's stream {detector}; console {log}"
    assert finals == expected, f"status {status!r}, console {log}"
