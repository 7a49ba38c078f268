"""The JS runtime's speed against Python's on one bundle, in one run: Python onnxruntime, Node with
onnxruntime-node (native) and with onnxruntime-web (WebAssembly, what browsers run), at 1 and 3 s.

Usage: python -m benchmarks.platforms.web_speed [--bundle B ...] [--threads 1 2] [--repeats 10] [--out JSON]

Every backend times ``predict`` on the same samples (FSDD test utterances joined, at 16 kHz): minimum
and median of the repeats after WARMUP calls, one process per backend and thread count, one after another.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.paths import REPO
from benchmarks.common.workloads import time_calls

SECONDS = (1, 3)
# Warm-up calls before timing: V8 first runs WebAssembly through its baseline compiler and tiers up hot code.
WARMUP = 5


def audio(seconds: float, rate: int = 16000) -> np.ndarray:
    """The committed FSDD test utterances joined (resampled by phonedge) to SECONDS."""
    from phonedge.audio import prepare_audio

    parts, total = [], 0
    for path in sorted((REPO / "reference" / "audio").glob("*.wav")):
        x = prepare_audio(path, None, rate, 400)
        parts.append(x)
        total += len(x)
        if total >= seconds * rate:
            break
    return np.concatenate(parts)[: int(seconds * rate)]


def python_times(bundle: Path, x: np.ndarray, threads: int, repeats: int, warmup: int = WARMUP) -> dict[str, Any]:
    """Python's predict: minimum and median milliseconds per length."""
    import phonedge

    rec = phonedge.load(bundle, threads=threads)
    out = {}
    for seconds in SECONDS:
        part = x[: seconds * rec.sample_rate]
        times = [t * 1000 for t in time_calls(partial(rec.predict, part, rec.sample_rate), warmup, repeats)]
        out[str(len(part))] = {"min_ms": min(times), "median_ms": statistics.median(times)}
    return {"backend": "python", "threads": threads, "results": out}


def node_times(bundle: Path, samples: Path, backend: str, threads: int, repeats: int) -> dict[str, Any]:
    """web/bench/speed.mjs in its own Node process."""
    lengths = ",".join(str(s * 16000) for s in SECONDS)
    run = subprocess.run(["node", str(REPO / "web" / "bench" / "speed.mjs"), str(bundle), str(samples),
                          "--backend", backend, "--threads", str(threads), "--lengths", lengths,
                          "--repeats", str(repeats), "--warmup", str(WARMUP)],
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def chromium_times(bundle: Path, samples: Path, threads: int, repeats: int) -> dict[str, Any] | None:
    """web/bench/bench.js in web/harness.html, headless Chromium, a site from ``phonedge web``; None without it."""
    import shutil
    import threading

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        print("chromium: skipped, chromium or chromedriver is absent (make browser)", file=sys.stderr)
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from phonedge.ondevice import site_server, write_site

    with tempfile.TemporaryDirectory() as tmp:
        site = write_site(bundle, Path(tmp) / "site")
        shutil.copyfile(REPO / "web" / "harness.html", site / "harness.html")
        shutil.copyfile(REPO / "web" / "bench" / "bench.js", site / "bench.js")
        shutil.copyfile(samples, site / "samples.f32")
        server = site_server(site)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        options = Options()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-extensions", "--enable-precise-memory-info"):
            options.add_argument(flag)
        browser = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        peak = RendererPeak(browser.service.process.pid)
        # A page busy in WebAssembly answers WebDriver late; a loaded machine needs more than the default 120 s.
        browser.command_executor._client_config.timeout = 900
        try:
            lengths = ",".join(str(s * 16000) for s in SECONDS)
            browser.get(f"http://127.0.0.1:{server.server_address[1]}/harness.html?run=bench.js&threads={threads}"
                        f"&repeats={repeats}&warmup={WARMUP}&lengths={lengths}")
            deadline, text = time.monotonic() + 600, "running"
            while time.monotonic() < deadline and text == "running":
                peak.sample_for(1.0)
                text = browser.find_element(By.ID, "result").text
        finally:
            browser.quit()
            server.shutdown()
    if not text.startswith("{"):
        raise RuntimeError(f"the browser benchmark failed: {text}")
    return {**json.loads(text), "renderer_peak_rss_mib": peak.mib}


class RendererPeak:
    """The peak resident memory of Chromium's renderer processes under one chromedriver, sampled every 0.1 s."""

    def __init__(self, driver_pid: int) -> None:
        """Watch the renderers that descend from DRIVER_PID."""
        import psutil

        self.root = psutil.Process(driver_pid)
        self.peak = 0

    def sample_for(self, seconds: float) -> None:
        """Sample for SECONDS."""
        import psutil

        end = time.monotonic() + seconds
        while time.monotonic() < end:
            total = 0
            for proc in self.root.children(recursive=True):
                try:
                    if "--type=renderer" in " ".join(proc.cmdline()):
                        total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            time.sleep(0.1)

    @property
    def mib(self) -> float:
        """The peak in MiB."""
        return self.peak / 2**20


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per bundle, backend and thread count; ms (min) and the ratio to Python's."""
    heads = " | ".join(f"{s} s min (median) ms | × Python" for s in SECONDS)
    lines = [f"| bundle | backend | threads | {heads} |", "|---|---|---|" + "---|---|" * len(SECONDS)]
    for row in rows:
        base = next(r for r in rows if r["bundle"] == row["bundle"] and r["backend"] == "python"
                    and r["threads"] == row["threads"])
        cells = []
        for seconds in SECONDS:
            key = str(seconds * 16000)
            got, ref = row["results"][key], base["results"][key]
            cells.append(f"{got['min_ms']:.1f} ({got['median_ms']:.1f}) | {got['min_ms'] / ref['min_ms']:.2f}")
        lines.append(f"| {row['bundle']} | {row['backend']} | {row['threads']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memory_lines(rows: list[dict[str, Any]]) -> str:
    """Each JS backend's memory: Node's RSS at the end, Chromium's renderer peak and the page's own count."""
    lines = []
    for row in rows:
        if row["backend"] in ("node", "web"):
            lines.append(f"- {row['bundle']}, Node {row['backend']}, {row['threads']} thread(s): RSS at the end "
                         f"{row['rss_mib']:.0f} MiB; load {row['load_ms']:.0f} ms")
        elif row["backend"] == "chromium":
            page = row.get("memory_bytes")
            lines.append(f"- {row['bundle']}, Chromium, {row['threads']} thread(s): renderer RSS peak "
                         f"{row['renderer_peak_rss_mib']:.0f} MiB, the page's measureUserAgentSpecificMemory "
                         f"{'n/a' if page is None else f'{page / 2**20:.0f} MiB'}; load {row['load_ms']:.0f} ms")
    return "\n".join(lines)


def markdown(meta: dict[str, Any]) -> str:
    """The RESULTS.md section of one run."""
    return (f"## On the device: JavaScript (web/) against Python\n\n"
            f"`python -m benchmarks.platforms.web_speed` ({meta['date']}, CPU: {meta['cpu']}, "
            "a machine shared with other work, "
            f"load average at the {meta.get('load_average_when', 'start')} {meta['load_average']}; "
            f"Node {meta['node']}, onnxruntime-node and -web "
            f"{meta['ort_js']}, Python onnxruntime {meta['ort_python']}). `predict` on the same 16 kHz samples (FSDD "
            f"test utterances joined), minimum (median) of {meta['repeats']} calls after {WARMUP} warm-up calls; "
            "× = the minimum over Python's at the same thread count. Chromium: headless Debian Chromium, the page "
            "cross-origin isolated (several wasm threads allowed).\n\n"
            + (f"{meta['note']}\n\n" if meta.get("note") else "")
            + table(meta["rows"]) + "\n\n" + memory_lines(meta["rows"]) + "\n")


def main() -> int:
    """Run every backend on every bundle and thread count; print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, nargs="+", default=[REPO / "bundles" / "reference-int8"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-chromium", dest="chromium", action="store_false", help="Node and Python only.")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "web_speed.json")
    parser.add_argument("--results-md", type=Path, default=None, help="Put the section 'web-speed' into this file.")
    parser.add_argument("--render", type=Path, default=None, help="Only render an earlier run's JSON.")
    parser.add_argument("--note", default="", help="A line on the bundles, kept with the results.")
    args = parser.parse_args()
    from benchmarks.common import sections
    from benchmarks.common.environment import cpu_line, load_average

    if args.render:
        meta = json.loads(args.render.read_text(encoding="utf-8"))
        print(markdown(meta))
        if args.results_md:
            sections.write("web-speed", markdown(meta), args.results_md)
        return 0
    start_load = load_average()

    x = audio(max(SECONDS))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples.f32"
        x.astype("<f4").tofile(samples)
        for bundle in args.bundle:
            for threads in args.threads:
                runs: list[dict[str, Any] | None] = [python_times(bundle, x, threads, args.repeats)]
                runs += [node_times(bundle, samples, backend, threads, args.repeats) for backend in ("node", "web")]
                if args.chromium:
                    runs.append(chromium_times(bundle, samples, threads, args.repeats))
                for run in filter(None, runs):
                    rows.append({**run, "bundle": bundle.name})
                    print(json.dumps(rows[-1]), file=sys.stderr)
    import onnxruntime

    lock = json.loads((REPO / "web" / "package-lock.json").read_text(encoding="utf-8"))
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_line(), "load_average": start_load,
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
            "ort_js": lock["packages"]["node_modules/onnxruntime-web"]["version"],
            "ort_python": onnxruntime.__version__, "repeats": args.repeats, "note": args.note, "rows": rows}
    print(markdown(meta))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    if args.results_md:
        sections.write("web-speed", markdown(meta), args.results_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
