"""Accuracy workload: model-card figures of every backend, scored identically, and agreement with PyTorch fp32."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from numpy.typing import NDArray

from phonedge_export.labels import read_labels

from benchmarks.common.backends import REFERENCE, Backend, BackendUnavailable, ModelSet, make_backend
from benchmarks.common.prepare import log
from benchmarks.common.workloads import load_16k


@dataclass(frozen=True)
class Said:
    """A prediction as ``phonedge.evaluate`` reads it."""

    text: str
    label: Optional[str]


class Vocabulary:
    """Class transcripts as token ids, through the same code and tokenizer spec the bundle manifest holds."""

    def __init__(self, hf_dir: Path) -> None:
        """Read the checkpoint's tokenizer as the exporter does."""
        from phonedge_export.checkpoint import read_checkpoint

        self.spec = read_checkpoint(Path(hf_dir), str(hf_dir)).tokenizer
        self.blank = self.spec.blank_id

    def target(self, transcript: str) -> list[int]:
        """Token ids of one class transcript."""
        from phonedge.ctc import transcript_ids

        return transcript_ids(self.spec, transcript)


class ScoredBackend:
    """A backend seen as ``phonedge.evaluate``'s recogniser: text from its own decoder, class by CTC scoring."""

    def __init__(self, backend: Backend, audio: dict[str, NDArray[np.float32]], vocab: Vocabulary,
                 labels: Sequence[Any]) -> None:
        """Wrap a loaded backend; AUDIO maps each eval path to its 16 kHz samples."""
        self.backend, self.audio, self.vocab, self.labels = backend, audio, vocab, list(labels)
        self.logits: dict[str, NDArray[np.float32]] = {}
        self.texts: dict[str, str] = {}
        self.decided: dict[str, Optional[str]] = {}

    def predict(self, path: Path, *, labels: Sequence[Any], classify: str) -> Said:
        """Run the backend; decide the class by exact CTC likelihood of each class transcript."""
        from phonedge.decide import ctc_decision
        from phonedge.scoring import log_softmax

        out = self.backend.infer(self.audio[str(path)])
        targets = [self.vocab.target(lab.transcript) for lab in labels]
        label, _ = ctc_decision(log_softmax(out.logits.astype(np.float64)), targets, self.vocab.blank,
                                [lab.label for lab in labels])
        key = str(path)
        self.logits[key], self.texts[key], self.decided[key] = out.logits, " ".join(out.text.split()), label
        return Said(out.text, label)


def _evaluate_one(name: str, models: ModelSet, threads: int, items: Sequence[Any], audio: dict[str, Any],
                  vocab: Vocabulary, labels: Sequence[Any]) -> tuple[dict[str, Any], Optional[ScoredBackend]]:
    """Load one backend, evaluate it on every item, and return its figures (or why it could not run)."""
    from phonedge.evaluate import evaluate

    start = time.perf_counter()
    try:
        backend = make_backend(name, models, threads)
        backend.load()
        scored = ScoredBackend(backend, audio, vocab, labels)
        report = evaluate(scored, items, labels=labels, classify="ctc")
    except BackendUnavailable as exc:
        log(f"  {name}: cannot run: {exc}")
        return {"status": "unavailable", "error": str(exc)}, None
    except Exception as exc:  # any library failure is recorded, never hidden, and the run goes on
        log(f"  {name}: failed: {type(exc).__name__}: {exc}")
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}, None
    figures = report.to_dict()
    figures.pop("predictions")
    figures.pop("labels")
    log(f"  {name}: accuracy {report.report['Accuracy']:.4f}, WER {report.wer:.4f} "
        f"({time.perf_counter() - start:.1f} s)")
    return {"status": "ok", **figures}, scored


def _agreement(scored: ScoredBackend, ref: ScoredBackend) -> dict[str, Any]:
    """Transcript and class agreement with the reference, and logit differences on equal-shape outputs."""
    keys = list(ref.texts)
    same_text = sum(scored.texts[k] == ref.texts[k] for k in keys)
    same_label = sum(scored.decided[k] == ref.decided[k] for k in keys)
    diffs = [np.abs(scored.logits[k].astype(np.float64) - ref.logits[k]) for k in keys
             if scored.logits[k].shape == ref.logits[k].shape]
    flat = np.concatenate([d.ravel() for d in diffs]) if diffs else np.zeros(0)
    return {
        "transcript_agreement": same_text / len(keys),
        "label_agreement": same_label / len(keys),
        "logit_abs_diff_mean": float(flat.mean()) if flat.size else None,
        "logit_abs_diff_max": float(flat.max()) if flat.size else None,
        "shape_mismatches": len(keys) - len(diffs),
    }


def run_accuracy(models: ModelSet, backends: Sequence[str], threads: int, eval_items: Sequence[Any],
                 labels_path: Path) -> dict[str, Any]:
    """Evaluate every backend on the same decoded eval audio; PyTorch fp32 is the reference."""
    labels = read_labels(labels_path)
    vocab = Vocabulary(models.hf_dir)
    log(f"accuracy: decoding {len(eval_items)} eval recordings (soxr to 16 kHz, as phonedge does)")
    audio = {str(item.path): load_16k(item.path) for item in eval_items}
    results: dict[str, Any] = {}
    scored: dict[str, ScoredBackend] = {}
    for name in backends:
        log(f"accuracy: {name}")
        results[name], done = _evaluate_one(name, models, threads, eval_items, audio, vocab, labels)
        if done is not None:
            scored[name] = done
            done.backend = None  # type: ignore[assignment]  # free the model; keep only its outputs
        gc.collect()
    if REFERENCE in scored:
        for name, item in scored.items():
            results[name]["vs_" + REFERENCE.replace("-", "_")] = _agreement(item, scored[REFERENCE])
    return {"model": str(models.hf_dir), "n": len(eval_items), "labels": [lab.label for lab in labels],
            "classify": "ctc (exact CTC likelihood of each class transcript, phonedge.decide.ctc_decision)",
            "backends": results}
