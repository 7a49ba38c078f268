"""Benchmark workers: each measured job in a fresh process, so its load time and memory figures are its own.

Usage (run by the workloads, from the repository root):
  python -m benchmarks.common.worker SPEC.json RESULT.json          one speed backend (speed.py)
  python -m benchmarks.common.worker long-audio BUNDLE WAV THREADS  one predict's peak memory (long_audio.py)
  python -m benchmarks.common.worker pipeline MODEL WAV THREADS     a transformers pipeline user's script (coldstart.py)
  python -m benchmarks.common.worker cli ARGS...                    the phonedge CLI when no script is installed
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    import psutil

    return psutil.Process().memory_info().rss / MB


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far in MiB: VmHWM of /proc/self/status.

    Not getrusage's ru_maxrss: Linux carries the parent's high-water mark across fork and exec into
    it, so a small worker started by a big parent would report the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: /proc/self/clear_refs "5"), so a peak belongs to what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Import, load, then time every input length after warm-up; memory read at each stage."""
    import numpy as np

    from benchmarks.common.backends import BackendUnavailable, ModelSet, make_backend
    from benchmarks.common.workloads import SAMPLE_RATE, SpeedPlan, length_key, summarize, time_calls

    plan = SpeedPlan(tuple(spec["plan"]["lengths_s"]), spec["plan"]["warmup"],
                     {float(k): v for k, v in spec["plan"]["repeats"].items()})
    signal = np.load(spec["signal"])
    result: dict[str, Any] = {"rss_start_mb": rss_mb()}
    try:
        backend = make_backend(spec["backend"], ModelSet.from_dict(spec["models"]), spec["threads"])
        start = time.perf_counter()
        backend.import_libraries()
        result["import_s"] = time.perf_counter() - start
        result["rss_after_imports_mb"] = rss_mb()
        start = time.perf_counter()
        backend.load()
        result["load_s"] = time.perf_counter() - start
        result["rss_after_load_mb"] = rss_mb()
        latency: dict[str, Any] = {}
        for seconds in plan.lengths_s:
            samples = np.ascontiguousarray(signal[: int(round(seconds * SAMPLE_RATE))])
            last: dict[str, Any] = {}

            def call() -> None:
                last["out"] = backend.infer(samples)  # noqa: B023  # the loop's current samples

            reset = reset_peak_rss()
            figures = summarize(time_calls(call, plan.warmup, plan.repeats_for(seconds)))
            # High-water mark over this length's calls alone: the model loaded, inputs of this length.
            figures["peak_rss_mb"] = peak_rss_mb() if reset else None
            figures["rtf"] = figures["median_s"] / seconds
            figures["frames"] = int(last["out"].logits.shape[0])
            latency[length_key(seconds)] = figures
            print(f"[bench]     {spec['backend']} {seconds:g} s: min {figures['min_s'] * 1000:.1f} ms, "
                  f"median {figures['median_s'] * 1000:.1f} ms", file=sys.stderr, flush=True)
        result.update(status="ok", latency=latency, model_bytes=backend.model_bytes(), settings=backend.settings)
    except BackendUnavailable as exc:
        result.update(status="unavailable", error=str(exc))
    except Exception as exc:  # recorded in the results rather than crashing the whole benchmark
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    result["rss_peak_mb"] = peak_rss_mb()
    result["torch_imported"] = "torch" in sys.modules
    result["transformers_imported"] = "transformers" in sys.modules
    return result


def long_audio(bundle: str, wav: str, threads: str) -> dict[str, Any]:
    """Peak RSS after loading BUNDLE and after one predict of WAV (the long-audio workload's row)."""
    import phonedge

    rec = phonedge.load(bundle, threads=int(threads))
    before = peak_rss_mb()
    start = time.perf_counter()
    pred = rec.predict(wav)
    return {"peak_rss_bytes": int(peak_rss_mb() * 2**20), "peak_rss_after_load_bytes": int(before * 2**20),
            "seconds": time.perf_counter() - start, "tokens": len(pred.tokens), "duration_s": pred.duration}


def pipeline(folder: str, path: str, threads: str) -> str:
    """What a transformers user writes for the job: read the file, resample it as phonedge does, run the pipeline."""
    import numpy as np
    import soundfile as sf
    import soxr
    import torch
    from transformers import pipeline as hf_pipeline

    torch.set_num_threads(int(threads))
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    samples = soxr.resample(audio.mean(axis=1), rate, 16000, quality="VHQ").astype(np.float32)
    asr = hf_pipeline("automatic-speech-recognition", model=folder, device=-1)
    return str(asr(samples)["text"])


def main(argv: list[str]) -> int:
    """Run the named job (see the module docstring); print or write its result."""
    if argv[:1] in (["-h"], ["--help"], []):
        print(__doc__, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[:1] == ["long-audio"]:
        print(json.dumps(long_audio(*argv[1:4])))
        return 0
    if argv[:1] == ["pipeline"]:
        print(pipeline(*argv[1:4]))
        return 0
    if argv[:1] == ["cli"]:
        from phonedge.cli import main as cli

        sys.argv = ["phonedge", *argv[1:]]
        return cli()
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = measure(spec)
    Path(argv[1]).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
