"""Speed workload: every backend in its own worker process on the same inputs; speed-ups within the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.backends import ModelSet
from benchmarks.common.prepare import log
from benchmarks.common.workloads import SpeedPlan, length_key
from benchmarks.common.paths import REPO

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def worker_env(threads: int) -> dict[str, str]:
    """The environment of a worker: the repository importable, OpenMP/BLAS pools at THREADS."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    for name in THREAD_ENV:
        env[name] = str(threads)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_worker(name: str, models: ModelSet, threads: int, plan: SpeedPlan, signal: Path,
               timeout: float) -> dict[str, Any]:
    """Measure one backend in a fresh Python process and return its result dict."""
    with tempfile.TemporaryDirectory(prefix="phonedge-bench-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec = {"backend": name, "models": models.to_dict(), "threads": threads, "plan": plan.to_dict(),
                "signal": str(signal)}
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        command = [sys.executable, "-m", "benchmarks.common.worker", str(spec_path), str(out_path)]
        try:
            proc = subprocess.run(command, cwd=REPO, env=worker_env(threads), timeout=timeout,
                                  stdout=subprocess.PIPE, stderr=None, text=True)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "error": f"worker timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out_path.is_file():
            return {"status": "failed", "error": f"worker exited with code {proc.returncode}: {proc.stdout[-2000:]}"}
        return json.loads(out_path.read_text(encoding="utf-8"))


def add_speedups(results: dict[str, dict[str, Any]], reference: str) -> None:
    """Speed-up of every backend over REFERENCE at each length (ratio of medians, same run)."""
    ref = results.get(reference, {})
    if ref.get("status") != "ok":
        return
    for item in results.values():
        for key, figures in item.get("latency", {}).items():
            base = ref["latency"].get(key)
            if base:
                figures["speedup_vs_" + reference.replace("-", "_")] = base["median_s"] / figures["median_s"]


def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One backend's rounds as one result: per length the round with the lowest median, peak RSS the highest."""
    done = [r for r in rounds if r.get("status") == "ok"]
    if not done:
        return rounds[-1]
    merged = dict(done[0])
    merged["latency"] = {}
    for key in done[0].get("latency", {}):
        candidates = [r["latency"][key] for r in done if key in r.get("latency", {})]
        best = dict(min(candidates, key=lambda f: f["median_s"]))
        best["round_medians_s"] = [f["median_s"] for f in candidates]
        peaks = [f["peak_rss_mb"] for f in candidates if f.get("peak_rss_mb") is not None]
        best["peak_rss_mb"] = max(peaks) if peaks else None
        merged["latency"][key] = best
    merged["rss_peak_mb"] = max(r["rss_peak_mb"] for r in done)
    merged["rounds"] = len(done)
    return merged


def run_speed(models: ModelSet, backends: Sequence[str], threads: int, plan: SpeedPlan, signal: NDArray[np.float32],
              reference: str, timeout: float, rounds: int = 1) -> dict[str, Any]:
    """Measure BACKENDS, each in its own process, ROUNDS times interleaved (A B C, A B C), on prefixes of SIGNAL.

    A shared machine has slow spells; interleaved rounds give every backend a chance outside them.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in backends}
    with tempfile.TemporaryDirectory(prefix="phonedge-bench-signal-") as tmp:
        path = Path(tmp) / "signal.npy"
        np.save(path, signal.astype(np.float32))
        for round_no in range(1, rounds + 1):
            for name in backends:
                log(f"speed: {name} (own process, round {round_no} of {rounds})")
                result = run_worker(name, models, threads, plan, path, timeout)
                runs[name].append(result)
                if result["status"] != "ok":
                    log(f"  {name}: {result['status']}: {result.get('error', '')[:300]}")
    results = {name: merge_rounds(items) for name, items in runs.items()}
    add_speedups(results, reference)
    return {"model": str(models.hf_dir), "plan": plan.to_dict(), "reference": reference, "rounds": rounds,
            "lengths_s": [length_key(s) for s in plan.lengths_s], "backends": results}
