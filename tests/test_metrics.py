"""Metrics against sklearn and jiwer on many seeded random cases."""

from __future__ import annotations

import numpy as np
import pytest

from phonedge.metrics import classification_report, confusion_matrix, cer, error_rate, wer

LABELS = ["0", "1", "2", "3"]
KEYS = {"Precision": "precision", "Recall": "recall", "F1-score": "f1-score", "Support": "support"}
PHONES = ["z", "ih", "r", "ow", "w", "ah", "n", "t", "uw", "th", "iy"]


def _assert_like_sklearn(y_true: list[str], y_pred: list[str], labels: list[str]) -> None:
    """Our report equals sklearn's on every shared figure, and Accuracy equals accuracy_score."""
    metrics = pytest.importorskip("sklearn.metrics")
    ours = classification_report(y_true, y_pred, labels)
    theirs = metrics.classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    for ours_key, their_key in [(label, label) for label in labels] + [
        ("Macro avg", "macro avg"),
        ("Weighted avg", "weighted avg"),
    ]:
        for name, their_name in KEYS.items():
            assert ours[ours_key][name] == pytest.approx(theirs[their_key][their_name], abs=1e-12), (ours_key, name)
    assert ours["Accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred), abs=1e-12)
    assert list(ours) == labels + ["Accuracy", "Macro avg", "Weighted avg"]
    expected = metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert confusion_matrix(y_true, y_pred, labels) == expected


def test_report_matches_sklearn_on_random_cases() -> None:
    rng = np.random.default_rng(0)
    for _ in range(150):
        n = int(rng.integers(1, 40))
        y_true = list(rng.choice(LABELS, size=n))
        y_pred = [t if rng.random() < 0.7 else str(rng.choice(LABELS)) for t in y_true]
        _assert_like_sklearn(y_true, y_pred, LABELS)


def test_report_with_predictions_outside_labels() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        n = int(rng.integers(1, 30))
        y_true = list(rng.choice(LABELS, size=n))
        y_pred = [str(rng.choice(LABELS + ["unknown", "error"])) for _ in y_true]
        _assert_like_sklearn(y_true, y_pred, LABELS)


def test_report_class_never_predicted_and_never_present() -> None:
    _assert_like_sklearn(["0", "0", "1", "2"], ["0", "1", "1", "1"], LABELS)  # "2" never predicted, "3" absent
    _assert_like_sklearn(["1", "1"], ["unknown", "unknown"], LABELS)
    report = classification_report(["0", "0", "1"], ["0", "1", "1"], LABELS)
    assert report["3"] == {"Precision": 0.0, "Recall": 0.0, "F1-score": 0.0, "Support": 0}
    assert report["Macro avg"]["Support"] == 3 and report["Weighted avg"]["Support"] == 3
    assert isinstance(report["0"]["Support"], int) and isinstance(report["Accuracy"], float)


def test_report_perfect_and_card_shape() -> None:
    y = ["0", "1", "2", "3"] * 3
    report = classification_report(y, y, LABELS)
    assert report["Accuracy"] == 1.0
    assert report["Macro avg"] == {"Precision": 1.0, "Recall": 1.0, "F1-score": 1.0, "Support": 12}
    assert confusion_matrix(y, y, LABELS) == [[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, 3]]


def test_confusion_ignores_predictions_outside_labels() -> None:
    matrix = confusion_matrix(["0", "1", "1"], ["0", "unknown", "0"], ["0", "1"])
    assert matrix == [[1, 0], [1, 0]]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "match"),
    [
        (["0"], ["0", "1"], LABELS, "pair up"),
        ([], [], LABELS, "no items"),
        (["0"], ["0"], [], "labels is empty"),
        (["0"], ["0"], ["0", "0"], "unique"),
        (["9"], ["0"], LABELS, "not among the classes"),
        (["Accuracy"], ["0"], ["Accuracy"], "cannot be class labels"),
    ],
)
def test_report_rejects_bad_input(y_true, y_pred, labels, match) -> None:
    with pytest.raises(ValueError, match=match):
        classification_report(y_true, y_pred, labels)
    with pytest.raises(ValueError, match=match):
        confusion_matrix(y_true, y_pred, labels)


def _random_transcript(rng: np.random.Generator, empty_ok: bool) -> str:
    """Phones joined by one or more spaces, sometimes padded, sometimes empty."""
    size = int(rng.integers(0 if empty_ok else 1, 7))
    text = ""
    for phone in rng.choice(PHONES, size=size):
        text += " " * int(rng.integers(1, 3)) + str(phone)
    return text + " " * int(rng.integers(0, 2)) if rng.random() < 0.5 else text.strip()


def test_wer_and_cer_match_jiwer_on_random_corpora() -> None:
    jiwer = pytest.importorskip("jiwer")
    rng = np.random.default_rng(2)
    for _ in range(150):
        n = int(rng.integers(1, 8))
        refs = [_random_transcript(rng, empty_ok=False) for _ in range(n)]
        hyps = [_random_transcript(rng, empty_ok=True) for _ in range(n)]
        assert wer(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
        assert cer(refs, hyps) == pytest.approx(jiwer.cer(refs, hyps), abs=1e-12)


def test_wer_cer_edge_cases_match_jiwer() -> None:
    jiwer = pytest.importorskip("jiwer")
    cases = [
        (["z ih r ow"], [""]),
        (["w ah n", ""], ["w ah n", "t uw"]),
        (["", ""], ["a", "b c"]),
        (["", ""], ["", ""]),
        (["  t  uw "], ["t uw"]),
        (["th r iy"], ["th r iy"]),
        ("z ih r ow", "z ih ow"),
    ]
    for refs, hyps in cases:
        assert wer(refs, hyps) == pytest.approx(float(jiwer.wer(refs, hyps))), (refs, hyps)
        assert cer(refs, hyps) == pytest.approx(float(jiwer.cer(refs, hyps))), (refs, hyps)


def test_error_rate_is_corpus_level() -> None:
    assert error_rate([["a", "b"], ["c", "d", "e", "f"]], [["a", "x"], ["c", "d", "e", "f"]]) == pytest.approx(1 / 6)
    assert error_rate([], []) == 0.0
    with pytest.raises(ValueError, match="pair up"):
        error_rate([["a"]], [])
    with pytest.raises(ValueError, match="must be strings"):
        wer(["a"], [None])
