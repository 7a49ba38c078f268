"""Calibrating the open-set threshold at export: score labelled recordings with the finished bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phonedge.decide import threshold_for_rejection_rate
from phonedge.errors import ExportError, PhonedgeError
from phonedge.evaluate import NONE, EvalItem, read_eval_list
from phonedge.manifest import ClassLabel

DEFAULT_REJECT_FRR = 0.01


def read_calibration(path: Path, labels: list[ClassLabel]) -> list[EvalItem]:
    """The calibration rows (an eval list), checked against the classes before any export work."""
    if not labels:
        raise ExportError("--reject-calibration needs --labels: the threshold is calibrated on the class decision")
    try:
        items = read_eval_list(path)
    except PhonedgeError as exc:
        raise ExportError(f"reject calibration: {exc}") from None
    names = {lab.label for lab in labels}
    unknown = sorted({item.label for item in items} - names - {NONE})
    if unknown:
        raise ExportError(f"reject calibration {path}: labels {unknown} are not classes of --labels {sorted(names)}")
    if not any(item.label != NONE for item in items):
        raise ExportError(f"reject calibration {path}: no in-set rows (rows with a class label) to calibrate on")
    return items


def calibrate(bundle: Path, items: list[EvalItem], rate: float, source: str) -> dict[str, Any]:
    """The manifest's decision section: the threshold rejecting at most RATE of the in-set rows, and how it was chosen.

    Scores come from the finished (quantized) bundle itself, so the threshold fits what the runtime
    computes. In-set rows that the decision rejects for other reasons (no speech, too short) count
    as rejected but do not move the threshold.
    """
    import phonedge

    rec = phonedge.load(bundle, open_set=False)
    scored: list[tuple[EvalItem, Any]] = []
    for item in items:
        try:
            scored.append((item, rec.predict(item.path)))
        except PhonedgeError as exc:
            raise ExportError(f"reject calibration: {item.path}: {exc}") from None
    inset = [p.label_score for item, p in scored if item.label != NONE and p.label_score is not None]
    threshold = threshold_for_rejection_rate(inset, rate)
    judge = phonedge.load(bundle, reject_threshold=threshold)
    verdicts = [(item, judge.predict(item.path)) for item in items]
    in_rows = [(i, p) for i, p in verdicts if i.label != NONE]
    out_rows = [(i, p) for i, p in verdicts if i.label == NONE]
    calibration: dict[str, Any] = {
        "score": "llr",
        "source": source,
        "target_in_set_rejection": rate,
        "in_set": len(in_rows),
        "in_set_rejected": sum(p.label is None for _, p in in_rows),
        "in_set_correct": sum(p.label == i.label for i, p in in_rows),
        "out_of_set": len(out_rows),
        "out_of_set_accepted": sum(p.label is not None for _, p in out_rows),
    }
    return {"reject_threshold": round(threshold, 6), "calibration": calibration}
