"""Where an ONNX bundle spends its time: ONNX Runtime's profiler, summed per op type and per node.

Usage: python -m benchmarks.speed.profile_ops BUNDLE [--seconds 3] [--threads 2] [--runs 4] [--top 12]
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path
from typing import Any, Optional


def bundle_session(bundle: Path, threads: int, profile_prefix: Optional[str] = None) -> tuple[Any, Any]:
    """An ONNX Runtime CPU session on BUNDLE's graph with THREADS intra-op threads (profiling to
    PROFILE_PREFIX when given), and the bundle's manifest."""
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


def random_feeds(manifest: Any, seconds: float) -> dict[str, Any]:
    """The graph's inputs for SECONDS of a seeded random signal (and an all-ones mask where the graph takes one)."""
    import numpy as np

    x = np.random.default_rng(0).normal(0, 1, (1, int(seconds * manifest.audio.sample_rate))).astype(np.float32)
    feeds = {"input_values": x}
    if manifest.has_attention_mask:
        feeds["attention_mask"] = np.ones(x.shape, np.int64)
    return feeds


def main() -> None:
    """Run the bundle's graph on a random signal with profiling on and print the breakdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    from phonedge.errors import PhonedgeError

    with tempfile.TemporaryDirectory() as tmp:
        try:
            session, manifest = bundle_session(args.bundle, args.threads, str(Path(tmp) / "profile"))
        except PhonedgeError as exc:
            raise SystemExit(f"error: {exc}") from None
        feeds = random_feeds(manifest, args.seconds)
        session.run(None, feeds)  # the warm-up is profiled too: totals are divided by runs + 1
        for _ in range(args.runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    by_op: collections.Counter[str] = collections.Counter()
    by_node: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
            by_node[event["name"][: -len("_kernel_time")]] += event["dur"]
    total = sum(by_op.values())
    calls = args.runs + 1
    print(f"{args.bundle}: {args.seconds:g} s of audio, {args.threads} threads, "
          f"{total / calls / 1000:.1f} ms of kernel time per run")
    for op, dur in by_op.most_common(args.top):
        print(f"  {op:28s} {dur / total * 100:5.1f}%  {dur / calls / 1000:8.1f} ms")
    print("top nodes:")
    for node, dur in by_node.most_common(args.top):
        print(f"  {node[:88]:88s} {dur / calls / 1000:8.1f} ms")


if __name__ == "__main__":
    main()
