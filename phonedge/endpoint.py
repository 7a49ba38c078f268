"""Endpointing: split a stream of speech/non-speech frames into segments, on the frame grid.

Frames arrive in two kinds. *Committed* frames are final; each is examined once, in order.
*Tentative* frames (a window's right context) may still change: they are only looked at, never
recorded, to open a segment early or to close one early. Both kinds of decision are then fixed,
and since windows fall on a fixed grid, the segments never depend on how audio was cut into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from numpy.typing import NDArray

# Added to the mean square so that digital silence has a finite level (-120 dBFS).
_POWER_FLOOR = 1e-12


def frame_energy_db(x: NDArray[np.float32], frames: int, stride: int, receptive_field: int) -> NDArray[np.float64]:
    """RMS level in dBFS of each frame's receptive field (samples ``f*stride`` to ``f*stride+field``)."""
    squares = np.concatenate(([0.0], np.cumsum(np.square(x, dtype=np.float64))))
    starts = np.arange(frames) * stride
    power = (squares[starts + receptive_field] - squares[starts]) / receptive_field
    return 10.0 * np.log10(power + _POWER_FLOOR)


@dataclass(frozen=True)
class EndpointRules:
    """Endpoint rules in frames: silence run that ends a segment, kept margins, longest segment."""

    silence: int
    pre: int
    post: int
    max_frames: int


class Endpointer:
    """The segmenting state machine; a segment is a frame span [start, end)."""

    def __init__(self, rules: EndpointRules) -> None:
        """Start idle at frame 0."""
        self.rules = rules
        self.open: Optional[int] = None  # start frame of the open segment
        self.last = -1  # last speech frame of the open segment
        self.prev_end = 0  # end frame of the last closed segment
        self.pos = 0  # next committed frame to examine

    def window(
        self, committed: NDArray[np.bool_], tentative: NDArray[np.bool_], committed_to: int
    ) -> list[tuple[int, int]]:
        """Examine newly committed frames (ending at ``committed_to``) and peek at tentative ones.

        Returns the segments closed, in order.
        """
        closed = []
        first = committed_to - len(committed)
        for i, speech in enumerate(committed):
            span = self._frame(first + i, bool(speech))
            if span is not None:
                closed.append(span)
        self.pos = committed_to
        span = self._peek(tentative, committed_to)
        if span is not None:
            closed.append(span)
        return closed

    def finish(self, total_frames: int) -> Optional[tuple[int, int]]:
        """Close the open segment at the end of the stream."""
        if self.open is None:
            return None
        return self._close(min(self.last + 1 + self.rules.post, total_frames))

    def earliest_needed(self) -> int:
        """The first frame a later segment or final can still start at (never past the committed ones)."""
        if self.open is not None:
            return min(self.pos, self.open)
        return min(self.pos, max(self.prev_end, self.pos - self.rules.pre))

    def _frame(self, f: int, speech: bool) -> Optional[tuple[int, int]]:
        rules = self.rules
        if self.open is None:
            if speech and f >= self.prev_end:
                self.open, self.last = max(self.prev_end, f - rules.pre), f
            return None
        if speech:
            self.last = max(self.last, f)
        elif f - self.last >= rules.silence:
            return self._close(self.last + 1 + rules.post)
        if f + 1 - self.open >= rules.max_frames:
            return self._close(self.open + rules.max_frames)
        return None

    def _peek(self, tentative: NDArray[np.bool_], committed_to: int) -> Optional[tuple[int, int]]:
        rules = self.rules
        horizon = committed_to + len(tentative)
        speech = committed_to + np.flatnonzero(tentative)
        if self.open is None:
            speech = speech[speech >= self.prev_end]
            if speech.size:
                self.open, self.last = max(self.prev_end, int(speech[0]) - rules.pre), int(speech[0])
            return None
        last = max(self.last, int(speech[-1])) if speech.size else self.last
        if horizon - (last + 1) >= rules.silence:
            return self._close(last + 1 + rules.post)
        if horizon - self.open >= rules.max_frames:
            return self._close(self.open + rules.max_frames)
        return None

    def _close(self, end: int) -> tuple[int, int]:
        assert self.open is not None
        span = (self.open, end)
        self.open, self.last, self.prev_end = None, -1, end
        return span
