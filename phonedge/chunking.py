"""Long audio in bounded memory: overlapping chunks whose stride frames are dropped before merging.

The scheme is the one of the transformers ASR pipeline (``chunk_length_s``/``stride_length_s``):
each chunk carries ``left`` and ``right`` context samples; the logits of those context frames are
cut off (by the chunk's frames-per-sample ratio, rounded) and the rest are concatenated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .errors import PhonedgeError


@dataclass(frozen=True)
class Chunk:
    """One window of the input: sample range plus how many context samples to drop on each side."""

    start: int
    stop: int
    left: int
    right: int


@dataclass(frozen=True)
class ChunkPlan:
    """Chunk length and left/right strides, in seconds."""

    chunk_s: float = 20.0
    left_s: float = 4.0
    right_s: float = 4.0

    def __post_init__(self) -> None:
        """Reject strides that leave no step between chunks."""
        if self.chunk_s <= 0 or self.left_s < 0 or self.right_s < 0:
            raise PhonedgeError(f"chunk length must be > 0 and strides >= 0, got {self}")
        if self.left_s + self.right_s >= self.chunk_s:
            raise PhonedgeError(
                f"strides {self.left_s} s + {self.right_s} s must be shorter than the chunk ({self.chunk_s} s)"
            )

    def windows(self, n_samples: int, rate: int) -> Iterator[Chunk]:
        """The chunks covering ``n_samples``; one whole chunk when the audio fits in one."""
        length = int(round(self.chunk_s * rate))
        left, right = int(round(self.left_s * rate)), int(round(self.right_s * rate))
        step = length - left - right
        for start in range(0, n_samples, step):
            stop = min(start + length, n_samples)
            last = start + length >= n_samples
            chunk = Chunk(start, stop, 0 if start == 0 else left, 0 if last else right)
            if stop - start > chunk.left:
                yield chunk
            if last:
                return


def frames_to_drop(chunk: Chunk, n_frames: int) -> tuple[int, int]:
    """Frames of left and right context to cut from a chunk's logits."""
    ratio = n_frames / (chunk.stop - chunk.start)
    return int(round(chunk.left * ratio)), int(round(chunk.right * ratio))
