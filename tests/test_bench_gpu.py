"""``benchmarks/platforms/gpu.py`` end to end in quick mode on the CPU provider, so the GPU run's script never rots.

No timing is asserted; the run must complete every step and write its JSON and markdown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.export]


def test_gpu_benchmark_quick_on_cpu(tmp_path: Path) -> None:
    for name in ("torch", "transformers", "optimum.exporters.onnx", "onnx", "phonedge_export"):
        pytest.importorskip(name)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "benchmarks.platforms.gpu", "--quick", "--provider", "cpu",
               "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--budget-s", "100000"]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads((tmp_path / "out" / "gpu.json").read_text(encoding="utf-8"))
    assert all(step["ok"] for step in data["steps"].values()), data["steps"]
    rows = data["latency_ms"]
    forms = ("fp16 --target cuda", "fp16 --target cuda --attention-mask")
    assert {"PyTorch fp32 eager", "PyTorch fp16 eager (SDPA)"} <= set(rows)
    assert {f"{kind} {form}" for kind in ("phonedge", "raw session.run") for form in forms} <= set(rows)
    assert all(set(row) == {"1", "3"} for row in rows.values())
    for form in forms:
        batch = data["batch"][f"phonedge {form}"]
        assert batch["items"] == 4 and batch["padded_pair_vs_single_max_abs_diff"] < 1e-2
        assert data["batch"][f"raw session.run {form}"]["items"] == 4
        assert data["mixed_batch"][f"phonedge {form}"]["items"] == 4
        assert data["placement"][form]["nodes"] > 0
        assert data["exports"][form]["quantization"]["attention"] == "fused"
        assert data["exports"][form]["quantization"]["input_normalization"] == "graph"
    assert data["batch"]["phonedge fp16 --target cuda --attention-mask"]["pair_padded"]
    assert not data["batch"]["phonedge fp16 --target cuda"]["pair_padded"]
    evals = data["eval"]
    assert len(evals) == 5 and all(r["n"] == 12 for r in evals.values())
    assert all(r["same_transcripts_as_cpu_fp32"] == 12 for k, r in evals.items() if not k.startswith("baseline"))
    assert all(r["predict_batch_same_transcripts"] == 12 for r in evals.values())
    markdown = (tmp_path / "out" / "gpu.md").read_text(encoding="utf-8")
    assert "| phonedge fp16 --target cuda |" in markdown and "failed: 0" in markdown
