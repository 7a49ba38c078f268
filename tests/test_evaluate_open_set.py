"""phonedge eval learns "none": out-of-set rows, a none row and column, rejection and acceptance rates, trade-off."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import pytest
from click.testing import CliRunner

from phonedge.evaluate import NONE, EvalItem, evaluate, read_eval_list
from phonedge.manifest import ClassLabel

CLASSES = [ClassLabel("0", "z ih r ow", "zero"), ClassLabel("1", "w ah n", "one")]


@dataclass(frozen=True)
class Said:
    text: str
    label: Optional[str]
    label_probs: Optional[Dict[str, float]]
    label_score: Optional[float]
    label_reason: Optional[str]


class Canned:
    labels = CLASSES

    def __init__(self, said: Dict[str, Said]) -> None:
        self.said = said

    def predict(self, path: Path, *, labels, classify):  # noqa: ANN001, ANN201
        return self.said[path.name]


def _said(best: str, score: float, threshold: float = -2.0, reason: Optional[str] = None) -> Said:
    probs = {"0": 0.9, "1": 0.1} if best == "0" else {"0": 0.1, "1": 0.9}
    if reason is None and score < threshold:
        reason = "out_of_set"
    return Said("x", None if reason else best, probs, score, reason)


def _case(tmp_path: Path):  # noqa: ANN202
    items = [EvalItem(tmp_path / "a.wav", "z ih r ow", "0"), EvalItem(tmp_path / "b.wav", "w ah n", "1"),
             EvalItem(tmp_path / "c.wav", "w ah n", "1"), EvalItem(tmp_path / "d.wav", "f ao r", NONE),
             EvalItem(tmp_path / "e.wav", "", NONE), EvalItem(tmp_path / "f.wav", "s ih k s", NONE)]
    said = {"a.wav": _said("0", 0.5), "b.wav": _said("1", -3.0), "c.wav": _said("0", -1.0),
            "d.wav": _said("1", -1.5), "e.wav": _said("0", 0.2, reason="no_speech"), "f.wav": _said("0", -20.0)}
    return items, Canned(said)


def test_none_rows_and_column_match_sklearn(tmp_path: Path) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    items, rec = _case(tmp_path)
    report = evaluate(rec, items)
    y_true = [i.label for i in items]
    y_pred = [p.predicted for p in report.predictions]
    assert y_pred == ["0", NONE, "0", "1", NONE, NONE]
    names = ["0", "1", NONE]
    assert report.matrix_labels == names
    assert report.confusion == sk.confusion_matrix(y_true, y_pred, labels=names).tolist()
    theirs = sk.classification_report(y_true, y_pred, labels=names, output_dict=True, zero_division=0)
    assert report.report[NONE]["Recall"] == pytest.approx(theirs[NONE]["recall"]) == pytest.approx(2 / 3)
    assert report.open_set == {"in_set": 3, "rejected": 1, "frr": pytest.approx(1 / 3),
                               "out_of_set": 3, "accepted": 1, "far": pytest.approx(1 / 3)}
    assert report.wer == pytest.approx(1.0)  # in-set items only: every reference word is wrong ("x")
    text = report.format_table()
    assert "In-set rejected: 1 of 3" in text and "Out-of-set accepted: 1 of 3" in text
    assert json.loads(json.dumps(report.to_dict()))["open_set"]["accepted"] == 1


def test_tradeoff_moves_both_errors(tmp_path: Path) -> None:
    items, rec = _case(tmp_path)
    rows = {r["threshold"]: r for r in evaluate(rec, items).tradeoff([-100.0, -2.0, 0.0, 1.0])}
    # no_speech stays rejected at every threshold; f (-20) is accepted only at -100.
    assert rows[-100.0] == {"threshold": -100.0, "frr": 0.0, "far": pytest.approx(2 / 3),
                            "in_set_accuracy": pytest.approx(2 / 3)}
    assert rows[-2.0]["frr"] == pytest.approx(1 / 3) and rows[-2.0]["far"] == pytest.approx(1 / 3)
    assert rows[0.0]["frr"] == pytest.approx(2 / 3) and rows[0.0]["far"] == 0.0
    assert rows[1.0]["frr"] == 1.0 and rows[1.0]["in_set_accuracy"] == 0.0
    default = evaluate(rec, items).tradeoff()
    assert [r["threshold"] for r in default] == [-20.0, -3.0, -1.5, -1.0, 0.5]


def test_eval_list_marks_none_rows(tmp_path: Path) -> None:
    path = tmp_path / "eval.tsv"
    path.write_text("path\ttranscript\tlabel\na.wav\tz ih r ow\t0\nb.wav\tf ao r\t\nc.wav\t\tNone\n")
    assert [i.label for i in read_eval_list(path)] == ["0", NONE, NONE]


def test_eval_cli_on_reference_with_out_of_set(reference_bundles: dict, tmp_path: Path) -> None:
    from phonedge.cli import main

    fsdd = Path(__file__).resolve().parents[1] / "reference" / "audio"
    rows = ["path\ttranscript\tlabel"]
    rows += [f"{fsdd / f'{d}_jackson_0.wav'}\t{t}\t{d}" for d, t in [("0", "z ih r ow"), ("1", "w ah n")]]
    silent = tmp_path / "silence.wav"
    import numpy as np
    import soundfile as sf
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    rows.append(f"{silent}\t\t")
    (tmp_path / "m.tsv").write_text("\n".join(rows) + "\n")
    res = CliRunner().invoke(main, ["eval", str(reference_bundles["int8"]), "--eval-list", str(tmp_path / "m.tsv"),
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["open_set"]["out_of_set"] == 1 and data["open_set"]["accepted"] == 0
    assert data["predictions"][2]["predicted"] == NONE and data["predictions"][2]["reason"] == "no_speech"
    tradeoff = CliRunner().invoke(main, ["eval", str(reference_bundles["int8"]), "--eval-list",
                                         str(tmp_path / "m.tsv"), "--tradeoff"])
    assert tradeoff.exit_code == 0 and "threshold" in tradeoff.stdout and "far" in tradeoff.stdout
