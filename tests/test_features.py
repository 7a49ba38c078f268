"""Normalisation parity with Hugging Face's Wav2Vec2FeatureExtractor."""

from __future__ import annotations

import numpy as np
import pytest

from phonedge.features import normalize, pad_batch


def test_normalize_zero_mean_unit_variance() -> None:
    x = np.random.default_rng(0).normal(3.0, 2.0, 16000)
    y = normalize(x)
    assert y.dtype == np.float32
    assert abs(float(y.mean())) < 1e-5
    assert abs(float(y.std()) - 1.0) < 1e-4


def test_normalize_off_keeps_samples() -> None:
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    np.testing.assert_array_equal(normalize(x, do_normalize=False), x)


def test_constant_signal_stays_finite() -> None:
    y = normalize(np.full(800, 0.25, dtype=np.float32))
    assert np.isfinite(y).all()
    assert np.abs(y).max() == 0.0


def test_pad_batch_mask() -> None:
    a, b = np.ones(3, np.float32), np.ones(5, np.float32)
    batch, mask = pad_batch([a, b], padding_value=-1.0)
    assert batch.shape == (2, 5)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch[0, 3:].tolist() == [-1.0, -1.0]


def test_parity_with_hf_extractor_on_many_lengths() -> None:
    transformers = pytest.importorskip("transformers")
    fe = transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    rng = np.random.default_rng(1)
    lengths = rng.integers(400, 80000, size=40)
    worst = 0.0
    for n in lengths:
        x = (rng.normal(0, rng.uniform(0.001, 0.5), n) + rng.uniform(-0.1, 0.1)).astype(np.float32)
        ref = fe(x, sampling_rate=16000, return_tensors="np").input_values[0]
        worst = max(worst, float(np.abs(normalize(x) - ref).max()))
    assert worst <= 1e-5


def test_parity_with_hf_extractor_padded_batch() -> None:
    transformers = pytest.importorskip("transformers")
    fe = transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    rng = np.random.default_rng(2)
    items = [rng.normal(0, 0.1, n).astype(np.float32) for n in (500, 3000, 1234)]
    ref = fe(items, sampling_rate=16000, padding=True, return_tensors="np")
    batch, mask = pad_batch([normalize(x) for x in items])
    np.testing.assert_array_equal(mask, ref.attention_mask)
    assert float(np.abs(batch - ref.input_values).max()) <= 1e-5


@pytest.mark.parametrize("scale", [1e20, 1e30, 3e38])
def test_huge_finite_samples_normalise_as_their_scaled_down_selves(scale: float) -> None:
    """Float32 sums of samples this large overflow; the rule is scale-free, so the answer must not become zeros."""
    import warnings

    x = np.random.default_rng(1).uniform(-1, 1, 16000).astype(np.float32)
    huge = (x / np.abs(x).max() * np.float32(scale)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = normalize(huge)
    np.testing.assert_allclose(y, normalize(x / np.abs(x).max()), atol=1e-5)
