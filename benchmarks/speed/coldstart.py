"""Cold start: wall time of a whole fresh process transcribing one file, phonedge CLI vs a transformers pipeline."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common.prepare import log
from benchmarks.speed.speed import REPO, worker_env
from benchmarks.common.workloads import summarize

WORKER = ["-m", "benchmarks.common.worker"]  # run from the repository root


def phonedge_command() -> list[str]:
    """The installed ``phonedge`` script next to this interpreter, else the same entry point through the worker."""
    script = shutil.which("phonedge", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, *WORKER, "cli"]


def _time_process(command: list[str], threads: int, warmup: int, repeats: int) -> dict[str, Any]:
    """Wall seconds of REPEATS runs of COMMAND (after WARMUP untimed runs that warm the OS file cache)."""
    times, last = [], None
    for index in range(warmup + repeats):
        start = time.perf_counter()
        last = subprocess.run(command, cwd=REPO, env=worker_env(threads), capture_output=True, text=True,
                              timeout=900)
        elapsed = time.perf_counter() - start
        if last.returncode != 0:
            return {"status": "failed", "error": f"exit {last.returncode}: {last.stderr.strip()[-1500:]}"}
        if index >= warmup:
            times.append(elapsed)
    output = last.stdout.strip().splitlines()[-1] if last and last.stdout.strip() else ""
    return {"status": "ok", **summarize(times), "warmup_runs": warmup, "output": output[:300]}


def run_cold_start(bundle: Path, model_dir: Path, wav: Path, threads: int, warmup: int, repeats: int) -> dict[str, Any]:
    """phonedge predict --model BUNDLE WAV vs transformers.pipeline(model=MODEL_DIR) on WAV, fresh processes."""
    cli = phonedge_command() + ["predict", "--model", str(bundle), "--threads", str(threads), str(wav)]
    pipe = [sys.executable, *WORKER, "pipeline", str(model_dir), str(wav), str(threads)]
    results: dict[str, Any] = {"file": str(wav), "bundle": str(bundle), "model": str(model_dir),
                               "os_file_cache": "warm" if warmup else "as found"}
    for name, command in (("phonedge-cli", cli), ("transformers-pipeline", pipe)):
        log(f"cold start: {name}")
        results[name] = _time_process(command, threads, warmup, repeats)
        results[name]["command"] = " ".join(command)
    cli_s, pipe_s = results["phonedge-cli"], results["transformers-pipeline"]
    if cli_s["status"] == pipe_s["status"] == "ok":
        results["speedup_phonedge_vs_pipeline"] = pipe_s["median_s"] / cli_s["median_s"]
    return results
