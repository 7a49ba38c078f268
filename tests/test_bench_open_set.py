"""benchmarks/accuracy/open_set.py's arithmetic: the trade-off and candidate tables from hand-made rows."""

from __future__ import annotations

import pytest

from benchmarks.accuracy.open_set import _auc, candidates, non_speech, section, tradeoff


def _row(truth, best, score, reason=None, llr=None, frames=10, phonemes=2, greedy=None):  # noqa: ANN001, ANN202
    label = None if reason else best
    return {"truth": truth, "best": best, "score": score, "reason": reason, "label": label, "text": "x",
            "llr": score if llr is None else llr, "frames": frames, "phonemes": phonemes,
            "llr_vs_greedy_text": score if greedy is None else greedy}


ROWS = {
    "fsdd 0-3": [_row("0", "0", 0.5), _row("1", "1", -1.5, "out_of_set"), _row("1", "0", 0.1)],
    "fsdd 4-9": [_row(None, "1", -20.0, "out_of_set"), _row(None, "2", -0.5)],
    "non-speech": [_row(None, "3", 1.0, "no_speech"), _row(None, "3", -30.0, "out_of_set")],
}


def test_tradeoff_counts() -> None:
    low, high = tradeoff(ROWS, [-100.0, 0.0])
    assert low["fsdd 0-3 rejected"] == 0.0 and low["fsdd 0-3 correct"] == pytest.approx(2 / 3)
    assert low["fsdd 4-9 accepted"] == 1.0 and low["non-speech accepted"] == 0.5  # no_speech stays rejected
    assert high["fsdd 0-3 rejected"] == pytest.approx(1 / 3) and high["fsdd 4-9 accepted"] == 0.0


def test_candidates_and_auc() -> None:
    assert _auc([1.0, 2.0], [0.0]) == 1.0 and _auc([0.0], [0.0]) == 0.5 and _auc([0.0], [1.0]) == 0.0
    table = {c["score"]: c for c in candidates(ROWS)}
    assert table["per utterance (kept)"]["auc_other_digits"] == pytest.approx(5 / 6)


def test_non_speech_set_and_section() -> None:
    sounds = non_speech()
    assert len(sounds) == 57 and all(x.dtype.name == "float32" for x in sounds.values())
    result = {"when": "now", "cpu": "cpu", "bundle": "b", "threshold": -1.0, "threshold_source": "the default",
              "n": {"non-speech": 2}, "candidates": candidates(ROWS), "tradeoff": tradeoff(ROWS, [-1.0]),
              "goals": {"fsdd_other_digits_rejected": 0.5, "non_speech_rejected": 1.0, "non_speech_reasons": {},
                        "in_set_correct": 1, "in_set_n": 3, "in_set_rejected": 1, "in_set_wrong_class": 1,
                        "in_set_correct_closed_set": 2}}
    text = section(result)
    assert "| FSDD digits 4-9 (test split) rejected, goal ≥ 95% | 50.0% |" in text and "| -1.00 |" in text
