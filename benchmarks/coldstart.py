"""Cold start: wall time of a whole fresh process transcribing one file, phonedge CLI vs a transformers pipeline."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .prepare import log
from .speed import REPO, worker_env
from .workloads import summarize

# What a transformers user writes for the same job: read the file, resample it as phonedge does, run the pipeline.
PIPELINE_SCRIPT = """
import sys
import numpy as np, soundfile as sf, soxr, torch
from transformers import pipeline
folder, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
audio, rate = sf.read(path, dtype="float32", always_2d=True)
samples = soxr.resample(audio.mean(axis=1), rate, 16000, quality="VHQ").astype(np.float32)
asr = pipeline("automatic-speech-recognition", model=folder, device=-1)
print(asr(samples)["text"])
"""

CLI_FALLBACK = "import sys; from phonedge.cli import main; sys.exit(main())"


def phonedge_command() -> list[str]:
    """The installed ``phonedge`` script next to this interpreter, else the same entry point through -c."""
    script = shutil.which("phonedge", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", CLI_FALLBACK]


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
    pipe = [sys.executable, "-c", PIPELINE_SCRIPT, str(model_dir), str(wav), str(threads)]
    results: dict[str, Any] = {"file": str(wav), "bundle": str(bundle), "model": str(model_dir),
                               "os_file_cache": "warm" if warmup else "as found"}
    for name, command in (("phonedge-cli", cli), ("transformers-pipeline", pipe)):
        log(f"cold start: {name}")
        results[name] = _time_process(command, threads, warmup, repeats)
        shown = command if name == "phonedge-cli" else command[:2] + ["<pipeline script>"] + command[3:]
        results[name]["command"] = " ".join(shown)
    cli_s, pipe_s = results["phonedge-cli"], results["transformers-pipeline"]
    if cli_s["status"] == pipe_s["status"] == "ok":
        results["speedup_phonedge_vs_pipeline"] = pipe_s["median_s"] / cli_s["median_s"]
    return results
