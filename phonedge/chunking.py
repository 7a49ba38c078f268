"""Long audio in bounded memory: overlapping chunks whose stride frames are dropped before merging.

The scheme is the transformers ASR pipeline's (``chunk_length_s`` and left/right
``stride_length_s``): each chunk carries left and right context whose logits are cut off before
the rest are concatenated. Unlike the pipeline, which converts strides to frames by a rounded
ratio, chunks here start on the model's frame grid (multiples of the conv stride), so chunk frame
``f`` is exactly global frame ``start / stride + f``: the kept frames tile the utterance with no
frame lost or doubled, and chunked output has exactly the unchunked frame count. Like the
pipeline, the recogniser normalises each window on its own (see ``Recognizer.window_logits``).

One engine serves finished audio and live streams: :class:`WindowCursor` hands out the windows
as samples arrive, and :meth:`ChunkPlan.windows` is that cursor fed the whole input at once, so a
stream's frames are exactly the frames offline decoding of the same audio gives.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import PhonedgeError
from .grid import frame_count


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
    """Chunk length and left/right context, in seconds (default: 10 s chunks, 2 s each side).

    The default comes from benchmarks/long_audio/long_audio_accuracy.py (86 s FSDD sequence, reference
    model, windows 4-20 s with strides a fifth of the window): 10 s windows tie the transformers
    pipeline at the same window and beat its usual 20 s / 4 s (phoneme error 0.133 vs 0.197),
    and inputs up to 10 s still run in one pass. 5 s windows scored best on that digit model
    (0.097) but cost 5/3 model-seconds per second on 5-10 s inputs; measure your own model.
    """

    chunk_s: float = 10.0
    left_s: float = 2.0
    right_s: float = 2.0

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
        """The default plan for PROVIDER: the default windows on the CPU, one pass up to GPU_CHUNK_S on a GPU."""
        if provider.lower() in GPU_PROVIDERS:
            return cls(chunk_s=GPU_CHUNK_S)
        return cls()

    def chunk_samples(self, rate: int, stride: int, receptive_field: int) -> int:
        """Samples in one full chunk: ``chunk_s`` rounded to whole strides, as the pipeline aligns it.

        Such a chunk gives one frame less than it has strides (the last frame's receptive field
        runs past it); the right context always holds at least that frame.
        """
        return self._frames(rate, stride)[0] * stride

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
        return WindowCursor(self, rate, stride, receptive_field).advance(n_samples, final=True)


class WindowCursor:
    """Hands out a plan's windows in order as audio arrives; the same windows whatever the arrival pattern."""

    def __init__(self, plan: ChunkPlan, rate: int, stride: int, receptive_field: int) -> None:
        """Start before the first window of a plan on a frame grid of ``stride`` samples."""
        self.length, self.left, self.right = plan._frames(rate, stride)
        self.size = plan.chunk_samples(rate, stride, receptive_field)
        self.stride, self.receptive_field = stride, receptive_field
        self.start_frame = 0
        self.done = False

    @property
    def next_start(self) -> int:
        """First sample the next window reads (earlier samples are no longer needed)."""
        return self.start_frame * self.stride

    def advance(self, available: int, final: bool = False) -> Iterator[Chunk]:
        """The windows that ``available`` samples complete; ``final``: the input ends there.

        A full window is handed out only once a sample past it has arrived: until then it may be
        the input's last window, which keeps every frame to the end instead of dropping its right
        context.
        """
        while not self.done:
            start = self.next_start
            if not final and start + self.size >= available:
                return
            stop = min(start + self.size, available)
            last = stop == available
            frames = frame_count(stop - start, self.stride, self.receptive_field)
            keep_to = frames if last else self.length - self.right
            if frames <= 0:  # a stream that ended before its first window filled the receptive field
                self.done = True
                return
            yield Chunk(start, stop, 0 if start == 0 else self.left, keep_to)
            self.done = last
            self.start_frame += self.length - self.left - self.right
