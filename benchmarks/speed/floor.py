"""Compute floor: the least time any int8 ONNX Runtime graph of the model can take on this CPU.

The model's multiply-accumulates are counted from its config (benchmarks/common/macs.py: feature
encoder, positional conv, transformer projections and feed-forward, attention scores, CTC head), split
into those phonedge's int8 bundle runs as integer MatMuls and those that stay float32. ONNX Runtime's
own kernels are then timed on one MatMul at the model's shapes (uint8 x int8 ``MatMulInteger``, float32
``MatMul``), and the best rate of each kind is taken. MACs / rate is a lower bound: it ignores quantizing the
activations, normalisation, softmax, GELU and memory traffic, and credits the float32 convs with
the float32 MatMul rate. Dividing the reference backend's median latency by the bound gives the
highest speed-up an int8 graph could reach in that run.

Usage: python -m benchmarks.speed.floor [--model DIR] [--threads N] [--seconds 1 3 10]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Optional, Sequence

from benchmarks.common.macs import lower_bound_s, model_macs


def _matmul_session(k: int, n: int, int8: bool, threads: int) -> Any:
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        weight = rng.integers(-127, 128, (k, n)).astype(np.int8)
        a_type, op, y_type = TensorProto.UINT8, "MatMulInteger", TensorProto.INT32
    else:
        weight = rng.standard_normal((k, n)).astype(np.float32)
        a_type, op, y_type = TensorProto.FLOAT, "MatMul", TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "w"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("a", a_type, ["m", k])],
        [helper.make_tensor_value_info("y", y_type, None)],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def gemm_rates(config: dict[str, Any], frames: Sequence[int], threads: int, repeats: int = 15) -> dict[str, Any]:
    """Best measured MACs per second of ONNX Runtime's int8 and float32 MatMul at the model's shapes."""
    import numpy as np

    hidden, ffn = config["hidden_size"], config["intermediate_size"]
    rng = np.random.default_rng(1)
    rows = []
    for int8 in (True, False):
        for k, n in ((hidden, ffn), (ffn, hidden), (hidden, hidden)):
            session = _matmul_session(k, n, int8, threads)
            for m in frames:
                if int8:
                    a = rng.integers(0, 256, (m, k)).astype(np.uint8)
                else:
                    a = rng.standard_normal((m, k)).astype(np.float32)
                session.run(None, {"a": a})
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    session.run(None, {"a": a})
                    times.append(time.perf_counter() - start)
                rows.append({"kind": "int8" if int8 else "float32", "m": m, "k": k, "n": n,
                             "best_s": min(times), "macs_per_s": m * k * n / min(times)})
    best = {kind: max(r["macs_per_s"] for r in rows if r["kind"] == kind) for kind in ("int8", "float32")}
    return {"threads": threads, "rows": rows, "best_macs_per_s": best}


def compute_floor(config: dict[str, Any], seconds: Sequence[float], threads: int,
                  reference_medians: Optional[dict[str, float]] = None) -> dict[str, Any]:
    """MACs, measured GEMM rates, latency lower bounds and the speed-ups they allow, per length."""
    from benchmarks.common.workloads import length_key

    per_length = {length_key(s): model_macs(config, s) for s in seconds}
    rates = gemm_rates(config, sorted({int(m["frames"]) for m in per_length.values()}), threads)
    lengths: dict[str, Any] = {}
    for key, macs in per_length.items():
        entry: dict[str, Any] = {"macs": macs, **lower_bound_s(macs, rates["best_macs_per_s"])}
        reference = (reference_medians or {}).get(key)
        if reference:
            entry["reference_median_s"] = reference
            entry["max_speedup_phonedge_split"] = reference / entry["phonedge_split_s"]
            entry["max_speedup_all_int8"] = reference / entry["all_int8_s"]
        lengths[key] = entry
    return {"gemm": rates, "lengths": lengths}


def main(argv: Optional[list[str]] = None) -> int:
    """Print the floor of a checkpoint's config as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="benchmarks/.cache/xlsr53-random", help="checkpoint folder (config.json)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    args = parser.parse_args(argv)
    from pathlib import Path

    config = json.loads((Path(args.model) / "config.json").read_text(encoding="utf-8"))
    result = compute_floor(config, args.seconds, args.threads)
    result["gemm"].pop("rows")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
