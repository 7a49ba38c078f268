"""`phonedge serve` under uploads that decode to far more than they weigh: 8 concurrent 6-hour FLACs, then 8 of 5 min.

The 6-hour file is 48 kHz stereo silence with a second of noise every minute (a few MB; the
body limit lets it in). Every POST must be answered with a JSON 413 naming --max-audio-seconds;
the 5-minute ones (within the limit, 8 x 300 s against the 2,400 s in-flight budget) must be
served or wait. Meanwhile /v1/health is polled every 100 ms; the server's peak RSS is its VmHWM.
Usage: python -m benchmarks.serving.serve_limits [--bundle DIR] [--write]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import sections
from benchmarks.common.environment import cpu_line, load_average
from benchmarks.common.long_flac import quiet_minute, repeated_flac, speech_minute
from benchmarks.common.paths import BUNDLE
from benchmarks.serving.serve_process import ServerProcess


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class HealthPoller:
    """Polls /v1/health every 100 ms in a thread; keeps the slowest answer and any failure."""

    def __init__(self, url: str) -> None:
        self.url, self.worst, self.failures, self.count = url, 0.0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    ok = client.get(self.url + "/v1/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.worst = max(self.worst, time.perf_counter() - start)
                self.failures += not ok
                self.count += 1
                self._stop.wait(0.1)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def post_all(url: str, data: bytes, n: int) -> list[dict[str, Any]]:
    """N concurrent POSTs of DATA; status, JSON type and seconds of each."""
    import httpx

    def one(_: int) -> dict[str, Any]:
        start = time.perf_counter()
        r = httpx.post(url + "/v1/predict", content=data, timeout=600)
        body = r.json()
        return {"status": r.status_code, "type": body.get("type", "ok"), "error": body.get("error", ""),
                "s": time.perf_counter() - start}

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def run(bundle: Path, cache: Path) -> dict[str, Any]:
    """Both phases against one server."""
    cache.mkdir(parents=True, exist_ok=True)
    long = repeated_flac(cache / "silence-6h-48k.flac", 6 * 60, quiet_minute).read_bytes()
    five = repeated_flac(cache / "cycle-5min-48k.flac", 5, speech_minute).read_bytes()
    out: dict[str, Any] = {"long_mb": len(long) / 1e6, "five_mb": len(five) / 1e6}
    with ServerProcess(bundle) as server:
        assert server.proc is not None
        out["rss_start"] = peak_rss_mib(server.proc.pid)
        with HealthPoller(server.url) as health:
            start = time.perf_counter()
            out["long"] = post_all(server.url, long, 8)
            out["long_wall"] = time.perf_counter() - start
            out["rss_after_long"] = peak_rss_mib(server.proc.pid)
            out["health_worst_long"], health.worst = health.worst, 0.0
            start = time.perf_counter()
            out["five"] = post_all(server.url, five, 8)
            out["five_wall"] = time.perf_counter() - start
        out["rss_peak"] = peak_rss_mib(server.proc.pid)
        out["health_worst"], out["health_failures"], out["health_count"] = (
            health.worst, health.failures, health.count)
    return out


def markdown(r: dict[str, Any]) -> str:
    """The serve-limits section of RESULTS.md."""
    def statuses(rows: list[dict[str, Any]]) -> str:
        kinds: dict[str, int] = {}
        for row in rows:
            key = f"{row['status']} {row['type']}"
            kinds[key] = kinds.get(key, 0) + 1
        return ", ".join(f"{n} x {k}" for k, n in sorted(kinds.items()))

    return "\n".join([
        "## Serve: uploads that decode to far more than they weigh",
        "",
        "| Phase | Body MB | Answers | Slowest answer s | Wall s |",
        "|---|---:|---|---:|---:|",
        f"| 8 concurrent 6-hour 48 kHz stereo FLACs | {r['long_mb']:.1f} | {statuses(r['long'])} | "
        f"{max(x['s'] for x in r['long']):.2f} | {r['long_wall']:.2f} |",
        f"| then 8 concurrent 5-minute ones (speech, noise, silence) | {r['five_mb']:.1f} | {statuses(r['five'])} | "
        f"{max(x['s'] for x in r['five']):.2f} | {r['five_wall']:.2f} |",
        "",
        f"Server peak RSS (VmHWM): {r['rss_start']:.0f} MiB after start, {r['rss_after_long']:.0f} MiB after the "
        f"6-hour uploads, {r['rss_peak']:.0f} MiB at the end (most of it the 8 bodies of up to 50 MB that the "
        f"body limit admits). /v1/health polled every 100 ms throughout: {r['health_count']} answers, "
        f"{r['health_failures']} failures, slowest {r['health_worst_long'] * 1000:.0f} ms during the 6-hour "
        f"uploads and {r['health_worst'] * 1000:.0f} ms during the 5-minute ones.",
        f"Default limits (--max-audio-seconds 600, --max-audio-in-flight-seconds 2400, 4 workers at most). "
        f"Before these limits one such 6-hour upload took the server from 90 MB to 5.5 GB (issue #23). "
        f"`python -m benchmarks.serving.serve_limits`; {cpu_line()}; load average {load_average()}; "
        "the machine was shared with other work.",
    ])


def main(argv: list[str] | None = None) -> int:
    """Measure, print the section, and (--write) put it into RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=BUNDLE)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/phonedge-long-file"))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.bundle, args.cache)
    text = markdown(result)
    print(text)
    if args.write:
        sections.write("serve-limits", text)
    return 0 if all(x["status"] == 413 for x in result["long"]) and not result["health_failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
