"""The batching policy: which utterances may share one ONNX call without changing any item's result."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from .manifest import Manifest


class BatchPolicy(Enum):
    """How a bundle's graph lets items share a batch."""

    ONE_BY_ONE = "one item per call"
    PADDED = "padded to the longest, with an attention mask"
    EQUAL_LENGTH = "only items of equal length together"


def batch_policy(manifest: Manifest) -> BatchPolicy:
    """The policy a bundle's graph allows, from its manifest."""
    if manifest.graph.quantization.get("method") == "dynamic":
        # Dynamic int8 takes one activation scale per tensor, i.e. per batch: any batch-mate
        # would change an item's result.
        return BatchPolicy.ONE_BY_ONE
    if manifest.has_attention_mask and manifest.audio.feat_extract_norm == "layer":
        # Padding with a mask leaves a layer-norm model's valid frames unchanged.
        return BatchPolicy.PADDED
    # Without a mask (or with group norm over the padded signal) any padding changes the result.
    return BatchPolicy.EQUAL_LENGTH


def batch_groups(policy: BatchPolicy, lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of the items to run together, each group at most ``batch_size`` long."""
    if policy is BatchPolicy.ONE_BY_ONE:
        return [[i] for i in range(len(lengths))]
    if policy is BatchPolicy.PADDED:
        pools = [sorted(range(len(lengths)), key=lambda i: lengths[i])]
    else:
        by_len: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            by_len.setdefault(n, []).append(i)
        pools = list(by_len.values())
    return [pool[k : k + batch_size] for pool in pools for k in range(0, len(pool), batch_size)]
