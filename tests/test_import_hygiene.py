"""The runtime stands alone: import and a full predict with torch, transformers and optimum unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

BLOCKER = """
import importlib.abc, sys
BLOCKED = ("torch", "transformers", "optimum", "onnx", "sklearn", "jiwer", "scipy")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked for this test")
        return None
sys.meta_path.insert(0, Block())
"""


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + code], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_blocker_really_blocks() -> None:
    out = run_blocked("import torch")
    assert out.returncode != 0 and "blocked for this test" in out.stderr


def test_import_and_predict_without_heavy_libraries(layer_bundle: Path, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(12000) / 7)).astype(np.float32), 8000)
    code = f"""
import json, phonedge
rec = phonedge.load({str(layer_bundle)!r})
pred = rec.predict({str(wav)!r})
batch = rec.predict_batch([{str(wav)!r}, {str(wav)!r}], batch_size=2)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)
print(json.dumps({{"text": pred.text, "same": batch[0].text == pred.text, "heavy": heavy}}))
"""
    out = run_blocked(code)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["same"] is True
    assert result["heavy"] == []


def test_cli_predict_and_eval_without_heavy_libraries(layer_bundle: Path, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "b.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    code = f"""
from phonedge.cli import main
sys.argv = ["phonedge", "predict", "--json", "--model", {str(layer_bundle)!r}, {str(wav)!r}]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
"""
    out = run_blocked(code)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip())["path"] == str(wav)


@pytest.mark.parametrize("module", ["phonedge", "phonedge.cli"])
def test_import_has_no_side_effects(module: str) -> None:
    code = f"""
import logging, os
before = (len(logging.getLogger().handlers), os.environ.get("OMP_NUM_THREADS"))
import {module}
after = (len(logging.getLogger().handlers), os.environ.get("OMP_NUM_THREADS"))
assert before == after, (before, after)
# onnxruntime and soundfile load on first use, so importing stays cheap
assert "onnxruntime" not in sys.modules and "soundfile" not in sys.modules
"""
    out = run_blocked(code)
    assert out.returncode == 0, out.stderr
