"""wav2vec2 input normalisation, as ``Wav2Vec2FeatureExtractor`` computes it."""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import NDArray

# Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm adds this to the variance.
VARIANCE_EPSILON = 1e-7


def normalize(samples: NDArray[np.floating], do_normalize: bool = True) -> NDArray[np.float32]:
    """Zero mean, unit variance over one utterance, in float32 like the Hugging Face extractor."""
    x = np.asarray(samples, dtype=np.float32)
    if not do_normalize:
        return x
    with np.errstate(over="ignore", invalid="ignore"):
        variance = x.var()
    if not np.isfinite(variance):
        # Finite samples so large (|x| above ~1e19) that float32 sums overflow: the result does not depend
        # on the scale, so divide it out first rather than answer for all-zero input.
        x = x / np.abs(x).max()
        variance = x.var()
    return (x - x.mean()) / np.sqrt(variance + VARIANCE_EPSILON)


def stack_batch(
    items: list[NDArray[np.float32]], padding_value: float = 0.0, with_mask: bool = True
) -> tuple[NDArray[np.float32], Optional[NDArray[np.int64]]]:
    """One (B, T) batch of ITEMS and, only WITH_MASK, its attention mask: equal lengths are stacked
    as they are, unequal ones right-padded (see :func:`pad_batch`)."""
    if len({len(x) for x in items}) > 1:
        batch, mask = pad_batch(items, padding_value)
        return batch, mask if with_mask else None
    batch = np.stack([np.asarray(x, dtype=np.float32) for x in items])
    return batch, np.ones(batch.shape, dtype=np.int64) if with_mask else None


def pad_batch(
    items: list[NDArray[np.float32]], padding_value: float = 0.0
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Right-pad normalised utterances into one batch and return it with its attention mask."""
    width = max(len(x) for x in items)
    batch = np.full((len(items), width), padding_value, dtype=np.float32)
    mask = np.zeros((len(items), width), dtype=np.int64)
    for row, x in enumerate(items):
        batch[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return batch, mask
