"""The eval engine: eval list parsing, evaluation with a fake recogniser, report formats."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from phonedge.errors import AudioDecodeError, EvalListError, EvalListNotFoundError
from phonedge.evaluate import EvalItem, EvalReport, derive_labels, evaluate, read_eval_list
from phonedge.manifest import ClassLabel

DIGITS = [
    ClassLabel("0", "z ih r ow", "zero"),
    ClassLabel("1", "w ah n", "one"),
    ClassLabel("2", "t uw", "two"),
    ClassLabel("3", "th r iy", "three"),
]
CARD_NAMES = ["Precision", "Recall", "F1-score", "Support", "Accuracy", "Macro avg", "Weighted avg", "Wer", "Mtrix"]


@dataclass
class FakePrediction:
    """What the fake recogniser returns."""

    text: str
    label: Optional[str]


class FakeRecognizer:
    """Returns canned predictions by file name; raises for names in ``broken``."""

    def __init__(self, canned: Dict[str, FakePrediction], labels: Sequence[ClassLabel] = (), broken=()) -> None:
        self.canned = canned
        self.labels = list(labels)
        self.broken = set(broken)
        self.calls: List[tuple] = []

    def predict(self, path: Path, *, labels: Sequence[ClassLabel], classify: str) -> FakePrediction:
        self.calls.append((Path(path).name, tuple(label.label for label in labels), classify))
        if Path(path).name in self.broken:
            raise AudioDecodeError(f"{path}: not audio")
        return self.canned[Path(path).name]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- eval list parsing --------------------------------------------------------------------------


def test_read_tsv(tmp_path: Path) -> None:
    manifest = _write(tmp_path / "eval.tsv", "path\ttranscript\tlabel\na.wav\tz ih r ow\t0\n/abs/b.wav\tw ah n\t1\n")
    items = read_eval_list(manifest)
    assert items == [
        EvalItem(tmp_path / "a.wav", "z ih r ow", "0"),
        EvalItem(Path("/abs/b.wav"), "w ah n", "1"),
    ]


def test_read_csv_any_column_order_extra_columns_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    text = "\ufeffLabel, speaker ,path,transcript\n2,s1,clips/c.wav,t uw\n\n3,s2,\"d, e.wav\",th r iy\n"
    items = read_eval_list(_write(tmp_path / "sub" / "eval.csv", text))
    assert items == [
        EvalItem(tmp_path / "sub" / "clips" / "c.wav", "t uw", "2"),
        EvalItem(tmp_path / "sub" / "d, e.wav", "th r iy", "3"),
    ]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [("path\ttranscript\tlabel\na.wav\tt uw\t2\n", "tab"), ("path,transcript,label\na.wav,t uw,2\n", "comma")],
)
def test_read_sniffs_other_extensions(tmp_path: Path, text: str, delimiter: str) -> None:
    items = read_eval_list(_write(tmp_path / f"eval-{delimiter}.txt", text))
    assert items == [EvalItem(tmp_path / "a.wav", "t uw", "2")]


def test_missing_eval_list_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(EvalListNotFoundError, match="not found") as info:
        read_eval_list(tmp_path / "nope.tsv")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, EvalListError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"eval.tsv: the eval list is empty"),
        ("\n  \n", r"is empty"),
        ("path\ttranscript\tlabel\n", r"header but no rows"),
        ("path\ttext\tlabel\na.wav\tt uw\t2\n", r"eval.tsv:1: the header lacks column\(s\) transcript"),
        ("\npath\ttranscript\n", r"eval.tsv:2: the header lacks column\(s\) label"),
        ("path\ttranscript\tlabel\na.wav\tt uw\t2\nb.wav\tt uw\n", r"eval.tsv:3: expected 3 fields like the header, got 2"),
        ("path\ttranscript\tlabel\na.wav\tt uw\t2\tx\n", r"eval.tsv:2: expected 3 fields"),
        ("path\ttranscript\tlabel\na.wav\tt uw\t2\n\n \tt uw\t2\n", r"eval.tsv:4: the path field is empty"),
        ("path\tpath\ttranscript\tlabel\na\tb\tt uw\t2\n", r"eval.tsv:1: the header names path more than once"),
    ],
)
def test_eval_list_errors_name_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(EvalListError, match=match):
        read_eval_list(_write(tmp_path / "eval.tsv", text))


def test_eval_list_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_bytes(b"path,transcript,label\n\xff\xfe,a,0\n")
    with pytest.raises(EvalListError, match="UTF-8"):
        read_eval_list(path)


# --- evaluation ---------------------------------------------------------------------------------


def _items(tmp_path: Path) -> List[EvalItem]:
    refs = [("0", "z ih r ow"), ("1", "w ah n"), ("2", "t uw"), ("3", "th r iy")] * 3
    return [EvalItem(tmp_path / f"u{k}.wav", text, label) for k, (label, text) in enumerate(refs)]


def _canned(items: List[EvalItem]) -> Dict[str, FakePrediction]:
    """Mostly right, with a substitution, a deletion, an empty text, an unknown and a wrong class."""
    canned = {item.path.name: FakePrediction(item.transcript, item.label) for item in items}
    canned["u1.wav"] = FakePrediction("w ah ng", "1")
    canned["u2.wav"] = FakePrediction("t", "3")
    canned["u5.wav"] = FakePrediction("", None)
    canned["u7.wav"] = FakePrediction("th  r iy ", "2")
    return canned


def test_evaluate_matches_sklearn_and_jiwer(tmp_path: Path) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    jiwer = pytest.importorskip("jiwer")
    items = _items(tmp_path)
    recognizer = FakeRecognizer(_canned(items), labels=DIGITS)
    seen = []
    report = evaluate(recognizer, items, classify="nearest", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 12) for k in range(1, 13)]
    assert recognizer.calls[0] == ("u0.wav", ("0", "1", "2", "3"), "nearest")
    y_true = [item.label for item in items]
    y_pred = [p.predicted for p in report.predictions]
    assert y_pred[5] == "unknown" and y_pred[2] == "3"
    theirs = sk.classification_report(y_true, y_pred, labels=["0", "1", "2", "3"], output_dict=True, zero_division=0)
    assert report.report["2"]["Recall"] == pytest.approx(theirs["2"]["recall"])
    assert report.report["Macro avg"]["F1-score"] == pytest.approx(theirs["macro avg"]["f1-score"])
    assert report.report["Weighted avg"]["Precision"] == pytest.approx(theirs["weighted avg"]["precision"])
    assert report.report["Accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred)) == pytest.approx(9 / 12)
    assert report.confusion == sk.confusion_matrix(y_true, y_pred, labels=["0", "1", "2", "3"]).tolist()
    refs = [item.transcript for item in items]
    hyps = [p.text for p in report.predictions]
    assert report.wer == pytest.approx(jiwer.wer(refs, hyps))
    assert report.cer == pytest.approx(jiwer.cer(refs, hyps))
    assert report.n == 12 and report.failures == []
    assert report.exact_transcripts == pytest.approx(9 / 12)  # u7's spacing differs only
    assert report.outside_labels == 1


def test_failures_are_counted_not_dropped(tmp_path: Path) -> None:
    items = _items(tmp_path)
    recognizer = FakeRecognizer(_canned(items), labels=DIGITS, broken={"u0.wav", "u4.wav"})
    report = evaluate(recognizer, items)
    assert report.n == 12 and len(report.predictions) == 12
    assert [f.path for f in report.failures] == [str(tmp_path / "u0.wav"), str(tmp_path / "u4.wav")]
    assert report.failures[0].error == "AudioDecodeError" and "not audio" in report.failures[0].message
    assert report.predictions[0].predicted == "error" and report.predictions[0].text == ""
    assert report.report["0"]["Recall"] == pytest.approx(1 / 3)
    assert report.report["Accuracy"] == pytest.approx(7 / 12)
    assert "Failures: 2 of 12" in report.format_table()


def test_non_phonedge_errors_propagate(tmp_path: Path) -> None:
    items = _items(tmp_path)[:1]

    class Broken(FakeRecognizer):
        def predict(self, path, *, labels, classify):
            raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        evaluate(Broken({}, labels=DIGITS), items)


def test_labels_derived_from_eval_list_when_bundle_has_none(tmp_path: Path) -> None:
    items = [EvalItem(tmp_path / "a.wav", "t uw", "2"), EvalItem(tmp_path / "b.wav", "w  ah n", "10")]
    items += [EvalItem(tmp_path / "c.wav", "w ah n", "1"), EvalItem(tmp_path / "d.wav", "t uw", "2")]
    canned = {item.path.name: FakePrediction(item.transcript, item.label) for item in items}
    recognizer = FakeRecognizer(canned)
    report = evaluate(recognizer, items)
    assert report.labels == [ClassLabel("1", "w ah n"), ClassLabel("2", "t uw"), ClassLabel("10", "w ah n")]
    assert recognizer.calls[0][1] == ("1", "2", "10")
    assert report.report["Accuracy"] == 1.0


def test_explicit_labels_override_recognizer(tmp_path: Path) -> None:
    items = _items(tmp_path)[:4]
    canned = {item.path.name: FakePrediction(item.transcript, item.label) for item in items}
    recognizer = FakeRecognizer(canned, labels=[ClassLabel("x", "x")])
    report = evaluate(recognizer, items, labels=DIGITS)
    assert report.label_names == ["0", "1", "2", "3"]


def test_conflicting_transcripts_for_one_label(tmp_path: Path) -> None:
    items = [EvalItem(tmp_path / "a.wav", "t uw", "2"), EvalItem(tmp_path / "b.wav", "t uh", "2")]
    with pytest.raises(EvalListError, match="label '2' has two transcripts"):
        derive_labels(items)
    with pytest.raises(EvalListError, match="two transcripts"):
        evaluate(FakeRecognizer({}), items)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([ClassLabel("0", "z ih r ow")], r"label '1' is not one of the classes \['0'\]"),
        ([ClassLabel("0", "a"), ClassLabel("0", "b")], "unique"),
        ([ClassLabel("0", "a"), ClassLabel("1", "b"), ClassLabel("error", "c")], "cannot be class labels"),
    ],
)
def test_bad_classes_rejected(tmp_path: Path, labels, match) -> None:
    items = [EvalItem(tmp_path / "a.wav", "z ih r ow", "0"), EvalItem(tmp_path / "b.wav", "w ah n", "1")]
    with pytest.raises(EvalListError, match=match):
        evaluate(FakeRecognizer({}), items, labels=labels)


def test_empty_eval_set(tmp_path: Path) -> None:
    with pytest.raises(EvalListError, match="empty"):
        evaluate(FakeRecognizer({}, labels=DIGITS), [])


# --- report formats -----------------------------------------------------------------------------


def _report(tmp_path: Path) -> EvalReport:
    items = _items(tmp_path)
    return evaluate(FakeRecognizer(_canned(items), labels=DIGITS), items)


def test_to_dict_is_json_ready(tmp_path: Path) -> None:
    report = _report(tmp_path)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["n"] == 12 and data["labels"][0] == {"label": "0", "transcript": "z ih r ow", "name": "zero"}
    assert data["report"]["Macro avg"]["Support"] == 12
    assert data["predictions"][5] == {
        "path": str(tmp_path / "u5.wav"),
        "reference": "w ah n",
        "text": "",
        "label": "1",
        "predicted": "unknown",
        "score": None,
        "reason": None,
        "best": None,
    }
    assert data["wer"] == report.wer  # full precision in JSON


def test_format_table(tmp_path: Path) -> None:
    report = _report(tmp_path)
    table = report.format_table()
    for name in CARD_NAMES + ["Cer"]:
        assert name in table
    lines = table.splitlines()
    header = lines[0]
    assert header.split() == ["Precision", "Recall", "F1-score", "Support"]
    row = next(line for line in lines if line.split()[:1] == ["2"])
    assert row.split() == ["2", "0.6667", "0.6667", "0.6667", "3"]
    accuracy = next(line for line in lines if line.strip().startswith("Accuracy"))
    assert accuracy.split() == ["Accuracy", "0.7500", "12"]
    assert header.index("F1-score") + len("F1-score") == accuracy.index("0.7500") + len("0.7500")
    assert f"Wer: {report.wer:.4f}" in table
    matrix_at = next(k for k, line in enumerate(lines) if line.startswith("Mtrix"))
    assert lines[matrix_at + 1].split() == ["0", "1", "2", "3"]
    assert lines[matrix_at + 2].split() == ["0", "3", "0", "0", "0"]
    assert "Outside labels: 1" in table


def test_format_markdown(tmp_path: Path) -> None:
    report = _report(tmp_path)
    text = report.format_markdown(title="Digits eval")
    for name in CARD_NAMES:
        assert name in text
    lines = text.splitlines()
    assert lines[0] == "### Digits eval"
    assert "| Class | Precision | Recall | F1-score | Support |" in lines
    assert "| 2 | 0.6667 | 0.6667 | 0.6667 | 3 |" in lines
    assert any(line.startswith("| Macro avg | ") and line.endswith(" | 12 |") for line in lines)
    assert any(line.startswith("| Weighted avg | ") for line in lines)
    assert "- Accuracy: 0.7500" in lines
    assert f"- Wer: {report.wer:.4f}" in lines and f"- Cer: {report.cer:.4f}" in lines
    at = lines.index("- Mtrix:")
    assert lines[at + 2] == "|  | 0 | 1 | 2 | 3 |"
    assert lines[at + 4] == "| 0 | 3 | 0 | 0 | 0 |"
    assert not report.format_markdown(title=None).startswith("###")
