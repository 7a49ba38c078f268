"""Long audio in bounded memory: overlapping chunks whose stride frames are dropped before merging.

The scheme is the transformers ASR pipeline's (``chunk_length_s`` and left/right
``stride_length_s``): each chunk carries left and right context whose logits are cut off before
the rest are concatenated. Unlike the pipeline, which converts strides to frames by a rounded
ratio, chunks here start on the model's frame grid (multiples of the conv stride), so chunk frame
``f`` is exactly global frame ``start / stride + f``: the kept frames tile the utterance with no
frame lost or doubled, and chunked output has exactly the unchunked frame count. The recogniser
normalises the whole utterance once before cutting it (the pipeline normalises each chunk).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import PhonedgeError


# On a GPU one pass is fastest and memory is not the CPU's bound: an fp16 xlsr-53 bundle ran 30 s
# in one pass in 28 ms on an H100 where 20 s chunks (about 56 s of audio in all) took 89 ms (issue #14).
GPU_PROVIDERS = ("cuda", "tensorrt")
GPU_CHUNK_S = 120.0


@dataclass(frozen=True)
class Chunk:
    """One window: its sample range, and the range of its own output frames to keep."""

    start: int
    stop: int
    keep_from: int
    keep_to: int


@dataclass(frozen=True)
class ChunkPlan:
    """Chunk length and left/right context, in seconds (default: 20 s chunks, 4 s each side)."""

    chunk_s: float = 20.0
    left_s: float = 4.0
    right_s: float = 4.0

    def __post_init__(self) -> None:
        """Reject context that leaves no step between chunks."""
        if self.chunk_s <= 0 or self.left_s < 0 or self.right_s < 0:
            raise PhonedgeError(f"chunk length must be > 0 and strides >= 0, got {self}")
        if self.left_s + self.right_s >= self.chunk_s:
            raise PhonedgeError(
                f"strides {self.left_s} s + {self.right_s} s must be shorter than the chunk ({self.chunk_s} s)"
            )

    @classmethod
    def for_provider(cls, provider: str) -> "ChunkPlan":
        """The default plan for PROVIDER: 20 s chunks on the CPU, one pass up to GPU_CHUNK_S on a GPU."""
        if provider.lower() in GPU_PROVIDERS:
            return cls(chunk_s=GPU_CHUNK_S)
        return cls()

    def chunk_samples(self, rate: int, stride: int, receptive_field: int) -> int:
        """Samples in one full chunk (a whole number of frames)."""
        return self._frames(rate, stride)[0] * stride + receptive_field - stride

    def _frames(self, rate: int, stride: int) -> tuple[int, int, int]:
        length = max(1, round(self.chunk_s * rate / stride))
        left = round(self.left_s * rate / stride)
        # At least one frame of right context: a chunk's last frame needs samples past its end.
        right = max(1, math.ceil(self.right_s * rate / stride))
        if length - left - right < 1:
            raise PhonedgeError(f"{self} leaves no frame to keep per chunk at a {stride}-sample frame stride")
        return length, left, right

    def windows(self, n_samples: int, rate: int, stride: int, receptive_field: int) -> Iterator[Chunk]:
        """The chunks covering ``n_samples``: one when the audio fits in a chunk."""
        length, left, right = self._frames(rate, stride)
        size = self.chunk_samples(rate, stride, receptive_field)
        step = length - left - right
        start_frame = 0
        while True:
            start = start_frame * stride
            stop = min(start + size, n_samples)
            last = stop == n_samples
            frames = (stop - start - receptive_field) // stride + 1
            yield Chunk(start, stop, 0 if start == 0 else left, frames if last else length - right)
            if last:
                return
            start_frame += step
