"""Where an int8 bundle's time goes against benchmarks/floor.py's bound, per part of the work.

For each length, one process: the bundle's graph is timed bare (``session.run``, median after a
warm-up), then run again with ONNX Runtime's profiler on, keeping only the kernels of the timed runs
(the warm-up's are dropped). Kernel time is summed per category of op, with the feature encoder's
``Loop`` counted without the nodes of its body (they are reported under their own ops), and set
beside the floor's two terms from the same run: int8 MACs at the best measured MatMulInteger rate,
float MACs at the best float32 MatMul rate. The rest of the wall time ("between kernels") is the
executor's own: scheduling, allocation, thread hand-offs.

    python -m benchmarks.floor_gap BUNDLE [--model CHECKPOINT] [--seconds 1 3 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

# Op type -> category; anything not named here counts as "layout and shape".
CATEGORIES = {
    "int8 MatMuls (activation quantization included)": (
        "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger", "DynamicQuantizeLinear", "QGemm"),
    "float MatMuls and convs (attention, positional conv, first conv)": ("Conv", "FusedMatMul", "MatMul", "Gemm"),
    "normalisation and activations": ("LayerNormalization", "SkipLayerNormalization", "Gelu", "BiasGelu", "Erf",
                                      "Softmax", "Add", "Mul", "Div", "Sub", "Sqrt", "Pow", "ReduceMean"),
}
OTHER = "layout and shape"
LOOP = "feature-encoder Loop (its own work, body excluded)"


def category(op: str) -> str:
    """The category an op type's kernel time is counted under."""
    for name, ops in CATEGORIES.items():
        if op in ops:
            return name
    return OTHER


def _session(bundle: Path, threads: int, profile_prefix: str | None) -> tuple[Any, Any]:
    import onnxruntime as ort

    from phonedge.manifest import read_manifest

    manifest = read_manifest(bundle)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(bundle / manifest.graph.file), options,
                                providers=["CPUExecutionProvider"]), manifest


def _feeds(manifest: Any, seconds: float) -> dict[str, np.ndarray]:
    x = np.random.default_rng(0).normal(0, 1, (1, int(seconds * manifest.audio.sample_rate))).astype(np.float32)
    feeds = {"input_values": x}
    if manifest.has_attention_mask:
        feeds["attention_mask"] = np.ones(x.shape, np.int64)
    return feeds


def wall_median_s(bundle: Path, seconds: float, threads: int, runs: int) -> float:
    """Median ``session.run`` time after two warm-ups, no profiler."""
    session, manifest = _session(bundle, threads, None)
    feeds = _feeds(manifest, seconds)
    for _ in range(2):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def kernel_breakdown(bundle: Path, seconds: float, threads: int, runs: int) -> dict[str, float]:
    """Seconds per run of kernel time per category, warm-up excluded, Loop body not counted twice."""
    with tempfile.TemporaryDirectory() as tmp:
        session, manifest = _session(bundle, threads, str(Path(tmp) / "profile"))
        feeds = _feeds(manifest, seconds)
        for _ in range(2):
            session.run(None, feeds)
        for _ in range(runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    run_spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")[-runs:]
    if len(run_spans) < runs:
        raise RuntimeError(f"the profile holds {len(run_spans)} model runs, expected at least {runs}")
    start = run_spans[0][0]
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start]
    totals: collections.Counter[str] = collections.Counter()
    loops = [(e["ts"], e["ts"] + e["dur"]) for e in nodes if e["args"]["op_name"] == "Loop"]
    inside = 0.0
    for e in nodes:
        op = e["args"]["op_name"]
        if op == "Loop":
            totals[LOOP] += e["dur"]
            continue
        totals[category(op)] += e["dur"]
        if any(a <= e["ts"] and e["ts"] + e["dur"] <= b for a, b in loops):
            inside += e["dur"]
    totals[LOOP] -= inside
    return {name: dur / runs / 1e6 for name, dur in totals.items()}


def main() -> None:
    """Measure each length and print (and write) the table."""
    from benchmarks.floor import compute_floor
    from benchmarks.workloads import length_key

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--model", type=Path, default=REPO / "benchmarks" / ".cache" / "xlsr53-random",
                        help="the checkpoint folder whose config.json the floor counts MACs from")
    parser.add_argument("--seconds", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    config = json.loads((args.model / "config.json").read_text(encoding="utf-8"))
    floor = compute_floor(config, args.seconds, args.threads)
    rates = floor["gemm"]["best_macs_per_s"]
    rows: dict[str, Any] = {}
    for seconds in args.seconds:
        key = length_key(seconds)
        bound = floor["lengths"][key]
        wall = wall_median_s(args.bundle, seconds, args.threads, args.runs)
        parts = kernel_breakdown(args.bundle, seconds, args.threads, args.runs)
        rows[key] = {"wall_s": wall, "floor_s": bound["phonedge_split_s"], "x_floor": wall / bound["phonedge_split_s"],
                     "floor_int8_s": bound["int8_macs"] / rates["int8"],
                     "floor_float_s": bound["float32_macs"] / rates["float32"],
                     "kernels_s": parts, "between_kernels_s": wall - sum(parts.values())}
        r = rows[key]
        print(f"{key} s: wall {wall * 1e3:.1f} ms = {r['x_floor']:.2f} x floor {r['floor_s'] * 1e3:.1f} ms "
              f"(int8 part {r['floor_int8_s'] * 1e3:.1f}, float part {r['floor_float_s'] * 1e3:.1f})", flush=True)
        for name, value in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"    {name:70s} {value * 1e3:8.1f} ms")
        print(f"    {'between kernels (wall - kernel sum)':70s} {r['between_kernels_s'] * 1e3:8.1f} ms", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"bundle": str(args.bundle), "threads": args.threads, "rates": rates,
                                        "lengths": rows}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
