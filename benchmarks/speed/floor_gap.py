"""Where an int8 bundle's time goes against benchmarks/speed/floor.py's bound, per part of the work.

For each length, one process: the bundle's graph is timed bare (``session.run``, median after a
warm-up), then run again with ONNX Runtime's profiler on, keeping only the kernels of the timed runs
(the warm-up's are dropped). Kernel time is summed per category of op, with the feature encoder's
``Loop`` counted without the nodes of its body (they are reported under their own ops), and set
beside the floor's two terms from the same run: int8 MACs at the best measured MatMulInteger rate,
float MACs at the best float32 MatMul rate. The rest of the wall time ("between kernels") is the
executor's own: scheduling, allocation, thread hand-offs.

    python -m benchmarks.speed.floor_gap BUNDLE [--model CHECKPOINT] [--seconds 1 3 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.environment import cpu_line, load_average
from benchmarks.speed.profile_ops import bundle_session, random_feeds
from benchmarks.common.paths import REPO


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


def wall_s(bundle: Path, seconds: float, threads: int, runs: int) -> tuple[float, float]:
    """Fastest and median ``session.run`` time after two warm-ups, no profiler."""
    session, manifest = bundle_session(bundle, threads)
    feeds = random_feeds(manifest, seconds)
    for _ in range(2):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def kernel_breakdown(bundle: Path, seconds: float, threads: int, runs: int) -> tuple[float, dict[str, float]]:
    """The fastest profiled run (after two warm-ups): its duration and its kernel seconds per category.

    One run, not an average: on a shared machine a slow run's kernels would not add up to another
    run's wall time. The Loop's body nodes are counted under their own ops, not twice.
    """
    with tempfile.TemporaryDirectory() as tmp:
        session, manifest = bundle_session(bundle, threads, str(Path(tmp) / "profile"))
        feeds = random_feeds(manifest, seconds)
        for _ in range(2):
            session.run(None, feeds)
        for _ in range(runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")[-runs:]
    if len(spans) < runs:
        raise RuntimeError(f"the profile holds {len(spans)} model runs, expected at least {runs}")
    start, stop = min(spans, key=lambda span: span[1] - span[0])
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
             and start <= e["ts"] <= stop]
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
    return (stop - start) / 1e6, {name: dur / 1e6 for name, dur in totals.items()}


def main() -> None:
    """Measure each length and print (and write) the table."""
    from benchmarks.common import sections
    from benchmarks.speed.floor import compute_floor
    from benchmarks.common.workloads import length_key

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--model", type=Path, default=REPO / "benchmarks" / ".cache" / "xlsr53-random",
                        help="the checkpoint folder whose config.json the floor counts MACs from")
    parser.add_argument("--seconds", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "floor_gap.json")
    parser.add_argument("--results-md", type=Path, default=REPO / "benchmarks" / "RESULTS.md",
                        help="file whose floor-gap section gets the table (empty: none)")
    args = parser.parse_args()

    config = json.loads((args.model / "config.json").read_text(encoding="utf-8"))
    floor = compute_floor(config, args.seconds, args.threads)
    rates = floor["gemm"]["best_macs_per_s"]
    rows: dict[str, Any] = {}
    for seconds in args.seconds:
        key = length_key(seconds)
        bound = floor["lengths"][key]
        best, median = wall_s(args.bundle, seconds, args.threads, args.runs)
        profiled, parts = kernel_breakdown(args.bundle, seconds, args.threads, args.runs)
        floor_s = bound["phonedge_split_s"]
        rows[key] = {"best_s": best, "median_s": median, "floor_s": floor_s,
                     "x_floor_best": best / floor_s, "x_floor_median": median / floor_s,
                     "floor_int8_s": bound["int8_macs"] / rates["int8"],
                     "floor_float_s": bound["float32_macs"] / rates["float32"],
                     "profiled_run_s": profiled, "kernels_s": parts,
                     "between_kernels_s": profiled - sum(parts.values())}
        log(f"{key} s: best {best * 1e3:.1f} ms = {best / floor_s:.2f} x floor {floor_s * 1e3:.1f} ms")
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_line(),
               "load_average": load_average(), "bundle": str(args.bundle),
               "threads": args.threads, "runs": args.runs, "rates_macs_per_s": rates, "lengths": rows}
    text = markdown(results)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    if args.results_md:
        sections.write("floor-gap", text, args.results_md)


def markdown(results: dict[str, Any]) -> str:
    """The RESULTS.md section: one column per length, one row per kind of work."""
    rows = results["lengths"]
    keys = list(rows)
    names = sorted({n for r in rows.values() for n in r["kernels_s"]},
                   key=lambda n: -max(r["kernels_s"].get(n, 0.0) for r in rows.values()))

    def ms(value: float) -> str:
        return f"{value * 1e3:.1f}"

    lines = [
        "## Where int8 time goes against the compute floor", "",
        f"`python -m benchmarks.speed.floor_gap {results['bundle']}` ({results['date']}, CPU: {results['cpu']}, "
        f"{results['threads']} threads, load average at start {results['load_average']}). Best and median of "
        f"{results['runs']} bare runs; the breakdown is the fastest of {results['runs']} profiled runs. Floor rates: "
        f"int8 {results['rates_macs_per_s']['int8'] / 1e9:.0f} GMAC/s, float32 "
        f"{results['rates_macs_per_s']['float32'] / 1e9:.0f} GMAC/s.", "",
        "| ms | " + " | ".join(f"{k} s" for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
        "| bare run, best (median) | " + " | ".join(f"{ms(rows[k]['best_s'])} ({ms(rows[k]['median_s'])})"
                                                  for k in keys) + " |",
        "| floor (int8 term + float term) | " + " | ".join(
            f"{ms(rows[k]['floor_s'])} ({ms(rows[k]['floor_int8_s'])} + {ms(rows[k]['floor_float_s'])})"
            for k in keys) + " |",
        "| **x floor, best (median)** | " + " | ".join(
            f"**{rows[k]['x_floor_best']:.2f}** ({rows[k]['x_floor_median']:.2f})" for k in keys) + " |",
        "| profiled run | " + " | ".join(ms(rows[k]["profiled_run_s"]) for k in keys) + " |",
    ]
    lines += [f"| {name} | " + " | ".join(ms(rows[k]["kernels_s"].get(name, 0.0)) for k in keys) + " |"
              for name in names]
    lines.append("| between kernels (executor) | " + " | ".join(ms(rows[k]["between_kernels_s"]) for k in keys)
                 + " |")
    return "\n".join(lines) + "\n"


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[floor_gap] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
