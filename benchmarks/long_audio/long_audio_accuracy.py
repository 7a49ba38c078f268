"""Long offline audio accuracy: phonedge's windows vs the transformers ASR pipeline, same model and windows.

Input: the 120 FSDD test utterances (reference/eval.tsv, 6 speakers) in a row with 0.3 s gaps
(~86 s). Score: phoneme error rate of the whole transcript against the lexicon transcripts.
Compared, for each window length W (strides W/5 on each side, the pipeline's 20 s / 4 s ratio):
phonedge with each window normalised on its own (the runtime), phonedge with one normalisation
over the whole input before cutting (the runtime before per-window normalisation), and
transformers' ``pipeline("automatic-speech-recognition", chunk_length_s=W, stride_length_s=W/5)``
on the PyTorch model; plus one pass over the whole input.

    python -m benchmarks.long_audio.long_audio_accuracy BUNDLE [--windows 5 10 15 20] [--no-pipeline] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.paths import REPO
from benchmarks.common.workloads import SEQUENCE_GAP_S as GAP_S
from benchmarks.common.workloads import fsdd_sequence as sequence

RATE = 16000


def fsdd_sequence() -> tuple[np.ndarray, str]:
    """The 120 eval utterances in eval-list order with 0.3 s gaps, and the concatenated reference transcript."""
    audio, words = sequence(REPO)
    return audio, " ".join(transcript for _, _, transcript in words)


def per(truth: str, hyp: str) -> float:
    """Phoneme error rate of one long transcript."""
    from phonedge.metrics import error_rate

    return error_rate([truth.split()], [hyp.split()])


def raw_copy(bundle: Path, out: Path) -> Path:
    """A copy of BUNDLE whose manifest skips input normalisation (the identity on every window)."""
    shutil.copytree(bundle, out)
    data = json.loads((out / "phonedge.json").read_text())
    data["audio"]["do_normalize"] = False
    (out / "phonedge.json").write_text(json.dumps(data))
    return out


def main() -> None:
    """Measure every method at every window length and write the JSON figures."""
    import phonedge
    from phonedge.features import normalize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--model", type=Path, default=REPO / "reference" / "model")
    parser.add_argument("--windows", type=float, nargs="+", default=[5.0, 8.0, 10.0, 15.0, 20.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-pipeline", action="store_true", help="Skip transformers (e.g. for a second bundle).")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "long_audio_accuracy.json")
    args = parser.parse_args()

    audio, truth = fsdd_sequence()
    results: dict[str, Any] = {"input_s": len(audio) / RATE, "utterances": 120, "gap_s": GAP_S,
                               "bundle": str(args.bundle), "model": str(args.model), "windows": {}}
    one = phonedge.load(args.bundle, threads=args.threads, chunking=phonedge.ChunkPlan(1e6, 0, 0))
    results["one_pass"] = per(truth, one.predict(audio, RATE).text)
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_copy(args.bundle, Path(tmp) / "raw")
        asr = None if args.no_pipeline else _pipeline(args.model, args.threads)
        for w in args.windows:
            plan = phonedge.ChunkPlan(w, w / 5, w / 5)
            row = {
                "phonedge_per_window": per(truth, phonedge.load(args.bundle, threads=args.threads,
                                                                chunking=plan).predict(audio, RATE).text),
                "phonedge_whole_input_norm": per(truth, phonedge.load(raw, threads=args.threads, chunking=plan)
                                                 .predict(normalize(audio), RATE).text),
            }
            if asr is not None:
                row["transformers_pipeline"] = per(truth, asr(audio.copy(), chunk_length_s=w,
                                                              stride_length_s=w / 5)["text"])
            results["windows"][str(w)] = row
            print(f"{w:5.1f} s windows: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    print(f"one pass over {len(audio) / RATE:.1f} s: {results['one_pass']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


def _pipeline(model: Path, threads: int) -> Any:
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    return pipeline("automatic-speech-recognition", model=str(model), device="cpu")


if __name__ == "__main__":
    main()
