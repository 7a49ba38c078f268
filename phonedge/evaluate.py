"""The ``phonedge eval`` engine: read an eval list, run the recogniser, report the card's figures."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence

from . import metrics
from .deprecation import renamed_attributes
from .errors import EvalListError, EvalListNotFoundError, PhonedgeError
from .manifest import ClassLabel
from .model_card import Card
from .table import read_table

COLUMNS = ("path", "transcript", "label")
UNKNOWN = "unknown"  # predicted label when the recogniser decides no class and gives no reason
ERROR = "error"  # predicted label when the prediction raised a PhonedgeError
# An item that is none of the classes (its label field empty or "none"), and the open-set answer "none of these".
NONE = "none"


@dataclass(frozen=True)
class EvalItem:
    """One utterance of the eval set: its audio, reference transcript and true label."""

    path: Path
    transcript: str
    label: str


@dataclass(frozen=True)
class EvalPrediction:
    """What the recogniser said about one item."""

    path: str
    reference: str
    text: str
    label: str
    predicted: str
    score: Optional[float] = None
    reason: Optional[str] = None
    best: Optional[str] = None  # the closest class, also when the decision withheld it


@dataclass(frozen=True)
class EvalFailure:
    """An item whose prediction raised a PhonedgeError (counted as wrong, predicted label "error")."""

    path: str
    error: str
    message: str


class Decided(Protocol):
    """What evaluation reads of a prediction (a :class:`phonedge.Prediction` has it)."""

    text: str
    label: Optional[str]


class Predictor(Protocol):
    """What evaluation uses of a recogniser (a :class:`phonedge.Recognizer` has it)."""

    labels: List[ClassLabel]

    def predict(self, path: Path, *, labels: Sequence[ClassLabel], classify: str) -> Decided:
        """Transcribe one file and decide its class."""
        ...


@dataclass
class EvalReport:
    """All figures of one evaluation run, with the per-item predictions behind them."""

    labels: List[ClassLabel]
    report: Dict[str, Any]
    wer: float
    cer: float
    confusion: List[List[int]]
    n: int
    exact_transcripts: float
    failures: List[EvalFailure] = field(default_factory=list)
    predictions: List[EvalPrediction] = field(default_factory=list)

    @property
    def label_names(self) -> List[str]:
        """The class labels, in report order."""
        return [item.label for item in self.labels]

    @property
    def outside_labels(self) -> int:
        """How many predictions are no class ("unknown" or "error"), hence in no matrix column."""
        names = set(self.label_names) | {NONE}
        return sum(1 for p in self.predictions if p.predicted not in names)

    @property
    def open_set(self) -> Dict[str, Any]:
        """In-set false rejections and out-of-set false acceptances (the open-set decision's two errors)."""
        inset = [p for p in self.predictions if p.label != NONE]
        outset = [p for p in self.predictions if p.label == NONE]
        rejected = sum(p.predicted == NONE for p in inset)
        accepted = sum(p.predicted in self.label_names for p in outset)
        return {"in_set": len(inset), "rejected": rejected, "frr": rejected / len(inset) if inset else 0.0,
                "out_of_set": len(outset), "accepted": accepted, "far": accepted / len(outset) if outset else 0.0}

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-ready form (full precision)."""
        return {
            "labels": [asdict(item) for item in self.labels],
            "n": self.n,
            "report": self.report,
            "wer": self.wer,
            "cer": self.cer,
            "exact_transcripts": self.exact_transcripts,
            "open_set": self.open_set,
            "confusion": self.confusion,
            "failures": [asdict(item) for item in self.failures],
            "predictions": [asdict(item) for item in self.predictions],
        }

    def card(self) -> Card:
        """The model card of these figures, with notes on failures and predictions of no class."""
        notes = []
        rates = self.open_set
        if rates["rejected"] or rates["out_of_set"]:
            notes.append(f"In-set rejected: {rates['rejected']} of {rates['in_set']} ({rates['frr']:.2%}, "
                         f"label {NONE!r}: no class fits well enough)")
        if rates["out_of_set"]:
            notes.append(f"Out-of-set accepted: {rates['accepted']} of {rates['out_of_set']} ({rates['far']:.2%})")
        if self.failures:
            notes.append(f"Failures: {len(self.failures)} of {self.n} items could not be predicted")
        if self.outside_labels:
            notes.append(
                f"Outside labels: {self.outside_labels} (predictions of no class, "
                f"{UNKNOWN!r} or {ERROR!r}; in no matrix column)"
            )
        return Card(self.matrix_labels, self.report, self.wer, self.cer, self.confusion, notes)

    @property
    def matrix_labels(self) -> List[str]:
        """The report's and matrix's rows: the classes, then "none" when an item or a prediction is none."""
        names = self.label_names
        if any(NONE in (p.label, p.predicted) for p in self.predictions):
            return names + [NONE]
        return names

    def tradeoff(self, thresholds: Optional[Sequence[float]] = None) -> List[Dict[str, float]]:
        """In-set rejections, out-of-set acceptances and in-set accuracy if the threshold were each of THRESHOLDS.

        Items rejected for no speech or too few frames stay rejected at every threshold; the default
        thresholds are the items' own scores (every distinct operating point).
        """
        scored = [p for p in self.predictions if p.best is not None]
        if thresholds is None:
            thresholds = sorted({p.score for p in scored if p.score is not None and p.reason in (None, "out_of_set")})
        inset = [p for p in self.predictions if p.label != NONE]
        outset = [p for p in self.predictions if p.label == NONE]
        rows = []
        for t in thresholds:
            def says(p: EvalPrediction, t: float = t) -> Optional[str]:
                fits = p.reason in (None, "out_of_set") and p.score is not None and p.score >= t
                return p.best if fits else None
            rows.append({
                "threshold": float(t),
                "frr": sum(says(p) is None for p in inset) / len(inset) if inset else 0.0,
                "far": sum(says(p) is not None for p in outset) / len(outset) if outset else 0.0,
                "in_set_accuracy": sum(says(p) == p.label for p in inset) / len(inset) if inset else 0.0,
            })
        return rows


    def format_table(self) -> str:
        """Aligned text report like sklearn's, then Accuracy, Wer, Cer and the confusion matrix."""
        return self.card().text()

    def format_markdown(self, title: Optional[str] = "Evaluation") -> str:
        """A model-card markdown block: per-class table with averages, Accuracy, Wer, Cer, then the Mtrix."""
        return self.card().markdown(title)


def read_eval_list(path: Path) -> List[EvalItem]:
    """Read a TSV/CSV eval list with a header naming ``path``, ``transcript`` and ``label``.

    The table follows :mod:`phonedge.table`'s rules (delimiter by suffix, BOM ignored, columns in
    any order, extra columns ignored, blank lines skipped, every row as wide as the header);
    relative audio paths resolve against the eval list's folder.

    Raises:
        EvalListNotFoundError: the file does not exist.
        EvalListError: unreadable or empty file, a missing column, a row with the wrong number
            of fields, or an empty path (each with the file and line number). An empty label, or
            ``none``, marks an item that is none of the classes.
    """
    path = Path(path)
    if not path.is_file():
        raise EvalListNotFoundError(f"eval list not found: {path}")
    items = [_item(path, line, row) for line, row in read_table(path, COLUMNS, EvalListError, "eval list")]
    if not items:
        raise EvalListError(f"{path}: the eval list has a header but no rows")
    return items


def evaluate(
    recognizer: Predictor,
    items: Sequence[EvalItem],
    *,
    labels: Optional[Sequence[ClassLabel]] = None,
    classify: str = "ctc",
    progress: Optional[Callable[[int, int], None]] = None,
) -> EvalReport:
    """Predict every item and compute the model card's figures.

    Args:
        recognizer: has ``labels`` (the bundle's classes, maybe empty) and
            ``predict(path, labels=..., classify=...)`` returning ``.text`` and ``.label``.
        items: the eval set, e.g. from ``read_eval_list``.
        labels: the classes; default the recogniser's, else derived from the items.
        classify: passed through to ``predict`` (how the class is decided).
        progress: called as ``progress(done, total)`` after each item.

    Returns:
        The report. An item whose prediction raises a PhonedgeError is kept as wrong, with
        predicted label "error" and an empty transcript (all deletions in Wer/Cer), and is listed
        in ``failures``; a prediction with no label counts as "unknown".

    Raises:
        EvalListError: no items, an item's label is not a class, a class is named "error" or
            "unknown", or derived classes conflict (one label with two transcripts).
    """
    if len(items) == 0:
        raise EvalListError("the eval set is empty: give at least one item")
    classes = _resolve_labels(labels, recognizer, items)
    predictions: List[EvalPrediction] = []
    failures: List[EvalFailure] = []
    for done, item in enumerate(items, start=1):
        predictions.append(_predict(recognizer, item, classes, classify, failures))
        if progress is not None:
            progress(done, len(items))
    return _report(classes, predictions, failures)


def derive_labels(items: Sequence[EvalItem]) -> List[ClassLabel]:
    """Classes from an eval set: one per label with its transcript, numeric labels first in numeric order."""
    transcripts: Dict[str, str] = {}
    for item in items:
        if item.label == NONE:
            continue
        known = transcripts.setdefault(item.label, _normalise(item.transcript))
        if known != _normalise(item.transcript):
            raise EvalListError(
                f"label {item.label!r} has two transcripts, {known!r} and {_normalise(item.transcript)!r} "
                f"(at {item.path}); give the classes explicitly or fix the eval list"
            )
    ordered = sorted(transcripts, key=_label_key)
    return [ClassLabel(label=label, transcript=transcripts[label]) for label in ordered]


def _item(path: Path, line: int, row: Dict[str, str]) -> EvalItem:
    """One EvalItem from a data row, or EvalListError naming the line."""
    if not row["path"]:
        raise EvalListError(f"{path}:{line}: the path field is empty")
    label = NONE if row["label"].strip().lower() in ("", NONE) else row["label"]
    audio = Path(row["path"])
    return EvalItem(path=audio if audio.is_absolute() else path.parent / audio, transcript=row["transcript"],
                    label=label)


def _resolve_labels(
    labels: Optional[Sequence[ClassLabel]], recognizer: Predictor, items: Sequence[EvalItem]
) -> List[ClassLabel]:
    """The classes to use, checked against the items."""
    if labels is None:
        labels = list(recognizer.labels or [])
    classes = list(labels) if labels else derive_labels(items)
    names = [item.label for item in classes]
    if len(set(names)) != len(names):
        raise EvalListError(f"class labels must be unique, got {names}")
    clash = {UNKNOWN, ERROR, NONE} & set(names)
    if clash:
        raise EvalListError(f"{sorted(clash)} cannot be class labels: they mark items with no decision")
    for item in items:
        if item.label not in names and item.label != NONE:
            raise EvalListError(
                f"{item.path}: label {item.label!r} is not one of the classes {names}; "
                "fix the eval list or give the classes explicitly"
            )
    return classes


def _predict(
    recognizer: Predictor,
    item: EvalItem,
    classes: List[ClassLabel],
    classify: str,
    failures: List[EvalFailure],
) -> EvalPrediction:
    """Predict one item, recording a PhonedgeError as a failure instead of raising."""
    try:
        result = recognizer.predict(item.path, labels=classes, classify=classify)
    except PhonedgeError as exc:
        failures.append(EvalFailure(path=str(item.path), error=type(exc).__name__, message=str(exc)))
        return EvalPrediction(str(item.path), item.transcript, "", item.label, ERROR)
    reason = getattr(result, "label_reason", None)
    probs = getattr(result, "label_probs", None)
    predicted = str(result.label) if result.label is not None else NONE if reason else UNKNOWN
    best = str(result.label) if result.label is not None else max(probs, key=probs.get) if probs else None
    return EvalPrediction(str(item.path), item.transcript, result.text, item.label, predicted,
                          getattr(result, "label_score", None), reason, best)


def _report(
    classes: List[ClassLabel], predictions: List[EvalPrediction], failures: List[EvalFailure]
) -> EvalReport:
    """Compute every figure from the per-item predictions."""
    names = [item.label for item in classes]
    # "none" is a class of the report when some items are none of the classes, of the matrix when anything is.
    report_names = names + [NONE] if any(p.label == NONE for p in predictions) else names
    if any(NONE in (p.label, p.predicted) for p in predictions):
        names = names + [NONE]
    y_true = [p.label for p in predictions]
    y_pred = [p.predicted for p in predictions]
    # Transcript figures over the in-set items: an out-of-set item's words are not the model's business.
    inset = [p for p in predictions if p.label != NONE] or predictions
    refs = [p.reference for p in inset]
    hyps = [p.text for p in inset]
    exact = sum(_normalise(p.reference) == _normalise(p.text) for p in inset)
    return EvalReport(
        labels=classes,
        report=metrics.classification_report(y_true, y_pred, report_names),
        wer=metrics.wer(refs, hyps),
        cer=metrics.cer(refs, hyps),
        confusion=metrics.confusion_matrix(y_true, y_pred, names),
        n=len(predictions),
        exact_transcripts=exact / len(inset),
        failures=failures,
        predictions=predictions,
    )


def _normalise(text: str) -> str:
    """Whitespace-normalised transcript (the units that Wer compares)."""
    return " ".join(text.split())


def _label_key(label: str) -> tuple:
    """Sort key: integer labels first by value, then the rest alphabetically."""
    return (0, int(label), "") if re.fullmatch(r"-?\d+", label) else (1, 0, label)


__getattr__ = renamed_attributes(__name__, {"read_eval_manifest": "read_eval_list"})
