"""Recognizer.predict_each: many inputs, one outcome each, equal to predict; bad inputs isolated; progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import phonedge
from phonedge.errors import AudioDecodeError, AudioFileNotFoundError, PhonedgeError

RATE = 16000


def _inputs(tmp_path: Path, seed: int) -> list:
    rng = np.random.default_rng(seed)
    items: list = []
    for k in range(int(rng.integers(3, 9))):
        x = rng.normal(0, 0.1, int(rng.integers(800, RATE * 2))).astype(np.float32)
        if rng.random() < 0.5:
            path = tmp_path / f"u{seed}_{k}.wav"
            sf.write(path, x, int(rng.choice([8000, 16000, 22050])))
            items.append(path)
        else:
            items.append(x)
    return items


@pytest.mark.parametrize("seed", range(4))
def test_outcomes_equal_predict_whatever_the_batch_size(layer_bundle: Path, tmp_path: Path, seed: int) -> None:
    rec = phonedge.load(layer_bundle)
    items = _inputs(tmp_path, seed)
    paths_only = [i for i in items if isinstance(i, Path)]
    arrays_only = [i for i in items if not isinstance(i, Path)]
    for group, rate in ((paths_only, None), (arrays_only, RATE)):
        expected = [rec.predict(x, rate) for x in group]
        for batch_size in (1, 2, 5):
            seen: list = []
            outcomes = list(rec.predict_each(group, rate, batch_size=batch_size,
                                             progress=lambda done, total: seen.append((done, total))))
            assert [o.input is x for o, x in zip(outcomes, group)] == [True] * len(group)
            assert [o.prediction for o in outcomes] == expected and all(o.error is None for o in outcomes)
            assert seen == [(k, len(group)) for k in range(1, len(group) + 1)]


def test_bad_inputs_are_isolated(layer_bundle: Path, tmp_path: Path) -> None:
    rec = phonedge.load(layer_bundle)
    good = tmp_path / "good.wav"
    sf.write(good, np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32), RATE)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    items = [good, tmp_path / "missing.wav", broken, good]
    outcomes = list(rec.predict_each(items, batch_size=3))
    assert [type(o.error) for o in outcomes] == [type(None), AudioFileNotFoundError, AudioDecodeError, type(None)]
    assert outcomes[0].prediction == outcomes[3].prediction == rec.predict(good)


def test_a_failing_batch_falls_back_to_each_input(layer_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = phonedge.load(layer_bundle)
    rng = np.random.default_rng(1)
    arrays = [rng.normal(0, 0.1, n).astype(np.float32) for n in (8000, 9000, 10000)]
    expected = [rec.predict(x, RATE) for x in arrays]
    real_logits = phonedge.Recognizer.logits

    def flaky(self: phonedge.Recognizer, samples: np.ndarray) -> np.ndarray:
        if len(samples) == 9000:
            raise RuntimeError("an ONNX Runtime failure on this input")
        return real_logits(self, samples)

    monkeypatch.setattr(phonedge.Recognizer, "_batched_logits", lambda self, items, size: 1 / 0)
    monkeypatch.setattr(phonedge.Recognizer, "logits", flaky)
    outcomes = list(rec.predict_each(arrays, RATE, batch_size=3))
    assert outcomes[0].prediction == expected[0] and outcomes[2].prediction == expected[2]
    assert isinstance(outcomes[1].error, RuntimeError) and outcomes[1].prediction is None


def test_impossible_arguments_fail_before_any_input(layer_bundle: Path) -> None:
    rec = phonedge.load(layer_bundle)
    with pytest.raises(PhonedgeError, match="batch_size"):
        next(rec.predict_each([np.zeros(8000, np.float32)], RATE, batch_size=0))
    with pytest.raises(PhonedgeError, match="classify"):
        next(rec.predict_each([np.zeros(8000, np.float32)], RATE, classify="vote"))  # type: ignore[arg-type]
