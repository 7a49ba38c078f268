"""Classification and transcription metrics with the model card's names, computed with numpy only.

Figures match ``sklearn.metrics.classification_report(output_dict=True, zero_division=0)``,
``sklearn.metrics.confusion_matrix`` and ``jiwer.wer`` / ``jiwer.cer`` (jiwer 4.0 default transforms).
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Union

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidInputError
from .scoring import edit_distance

PRECISION, RECALL, F1, SUPPORT = "Precision", "Recall", "F1-score", "Support"
ACCURACY, MACRO, WEIGHTED = "Accuracy", "Macro avg", "Weighted avg"

Figures = Dict[str, Union[float, int]]
Report = Dict[str, Union[Figures, float]]


def classification_report(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> Report:
    """Per-class Precision/Recall/F1-score/Support, then Accuracy, Macro avg and Weighted avg.

    Args:
        y_true: the reference label of each item; every one must be in ``labels``.
        y_pred: the predicted label of each item; labels outside ``labels`` (such as "unknown")
            count as wrong: they lower recall and accuracy but add to no class's precision.
        labels: the classes, in report order.

    Returns:
        ``{label: {"Precision", "Recall", "F1-score", "Support"}, ..., "Accuracy": float,
        "Macro avg": {...}, "Weighted avg": {...}}``; a 0/0 ratio is 0.0 (sklearn's
        ``zero_division=0``); the averages' Support is the number of items.

    Raises:
        InvalidInputError (a ValueError): empty or mismatched inputs, duplicate or reserved labels, a
            reference outside labels.
    """
    labels = _check_labels(labels)
    true_idx, pred_idx = _encode(y_true, y_pred, labels)
    matrix = _matrix(true_idx, pred_idx, len(labels))
    hits = np.diag(matrix).astype(np.float64)
    support = np.bincount(true_idx, minlength=len(labels))  # the matrix lacks out-of-label predictions
    precision = _ratio(hits, matrix.sum(axis=0))
    recall = _ratio(hits, support)
    f1 = _ratio(2 * hits, matrix.sum(axis=0) + support)
    report: Report = {}
    for k, label in enumerate(labels):
        report[label] = _figures(precision[k], recall[k], f1[k], int(support[k]))
    total = len(true_idx)
    report[ACCURACY] = float(hits.sum() / total)
    report[MACRO] = _figures(precision.mean(), recall.mean(), f1.mean(), total)
    weights = support / total
    report[WEIGHTED] = _figures(float(precision @ weights), float(recall @ weights), float(f1 @ weights), total)
    return report


def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> List[List[int]]:
    """Counts with rows = true class and columns = predicted class, in ``labels`` order.

    Predictions outside ``labels`` are in no column (sklearn's rule), so such a row sums to
    less than its class's support; every reference must be in ``labels``.
    """
    labels = _check_labels(labels)
    true_idx, pred_idx = _encode(y_true, y_pred, labels)
    return _matrix(true_idx, pred_idx, len(labels)).tolist()


def error_rate(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> float:
    """Corpus error rate: total edit distance over total reference units, as jiwer computes it.

    When no reference has any unit the result is the number of hypothesis units (all
    insertions), which is jiwer's rule: 0.0 when the hypotheses are empty too.
    """
    if len(refs) != len(hyps):
        raise InvalidInputError(f"got {len(refs)} references and {len(hyps)} hypotheses; they must pair up")
    edits = sum(edit_distance(ref, hyp) for ref, hyp in zip(refs, hyps))
    units = sum(len(ref) for ref in refs)
    if units == 0:
        return float(edits)
    return edits / units


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Word error rate over whitespace-split units (the phoneme error rate for phoneme transcripts)."""
    return error_rate([_words(ref) for ref in _texts(refs)], [_words(hyp) for hyp in _texts(hyps)])


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Character error rate as ``jiwer.cer``: texts stripped at both ends, inner spaces kept as characters."""
    ref_chars = [list(ref.strip()) for ref in _texts(refs)]
    return error_rate(ref_chars, [list(hyp.strip()) for hyp in _texts(hyps)])


def _words(text: str) -> List[str]:
    """Whitespace-split units of a text."""
    return text.split()


def _texts(texts: Sequence[str]) -> Sequence[str]:
    """Accept one string as a one-item corpus (as jiwer does); reject non-strings."""
    if isinstance(texts, str):
        return [texts]
    for text in texts:
        if not isinstance(text, str):
            raise InvalidInputError(f"transcripts must be strings, got {type(text).__name__}: {text!r}")
    return texts


def _check_labels(labels: Sequence[str]) -> List[str]:
    """Return labels as a list, or raise InvalidInputError for none, duplicates or reserved names."""
    labels = [str(label) for label in labels]
    if not labels:
        raise InvalidInputError("labels is empty: give the classes to report")
    if len(set(labels)) != len(labels):
        raise InvalidInputError(f"labels must be unique, got {labels}")
    reserved = {ACCURACY, MACRO, WEIGHTED} & set(labels)
    if reserved:
        raise InvalidInputError(f"{sorted(reserved)} cannot be class labels: the report uses these names")
    return labels


def _encode(
    y_true: Sequence[str], y_pred: Sequence[str], labels: List[str]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Class indices of references and predictions; -1 for a prediction outside labels."""
    if len(y_true) != len(y_pred):
        raise InvalidInputError(f"got {len(y_true)} references and {len(y_pred)} predictions; they must pair up")
    if len(y_true) == 0:
        raise InvalidInputError("no items: y_true and y_pred are empty")
    index = {label: k for k, label in enumerate(labels)}
    unknown = sorted({str(label) for label in y_true} - set(index))
    if unknown:
        raise InvalidInputError(f"reference labels {unknown} are not among the classes {labels}")
    true_idx = np.array([index[str(label)] for label in y_true], dtype=np.int64)
    pred_idx = np.array([index.get(str(label), -1) for label in y_pred], dtype=np.int64)
    return true_idx, pred_idx


def _matrix(true_idx: NDArray[np.int64], pred_idx: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
    """Confusion counts, leaving out predictions marked -1."""
    kept = pred_idx >= 0
    flat = true_idx[kept] * n_classes + pred_idx[kept]
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num: NDArray[np.floating], den: NDArray[np.integer]) -> NDArray[np.float64]:
    """num / den elementwise, 0.0 where den is 0."""
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(den), where=den > 0)


def _figures(precision: float, recall: float, f1: float, support: int) -> Figures:
    """One row of the report."""
    return {PRECISION: float(precision), RECALL: float(recall), F1: float(f1), SUPPORT: int(support)}
