"""The segmenting rule of live audio, frame by frame on the model's grid, from a speech detector's decisions.

A segment opens at a speech frame and closes once ``silence`` frames without speech follow its last
speech frame (or when it reaches ``max_frames``). Its edges are fixed margins, not the sound's loud
run: ``pre`` frames before the first speech frame (never before the last segment's end) and ``post``
after the last, so quiet onsets and endings that the detector misses stay in the segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .speech import frame_energy_db  # noqa: F401  (its old home; benchmarks used it here)


@dataclass(frozen=True)
class EndpointRules:
    """Endpoint rules in frames: the silence that ends a segment, the kept margins, the longest segment."""

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
        self.pos = 0  # next frame to examine

    @property
    def end_if_closed(self) -> Optional[int]:
        """The end the open segment gets if no more speech comes (None when none is open)."""
        if self.open is None:
            return None
        return min(self.last + 1 + self.rules.post, self.open + self.rules.max_frames)

    def push(self, speech: bool) -> Optional[tuple[int, int]]:
        """Examine the next frame; return the segment it closes, if any."""
        f, rules = self.pos, self.rules
        self.pos += 1
        if self.open is None:
            if speech:
                self.open, self.last = max(self.prev_end, f - rules.pre), f
            return None
        if speech:
            self.last = f
        elif f - self.last >= rules.silence:
            return self._close(self.last + 1 + rules.post)
        if f + 1 - self.open >= rules.max_frames:
            return self._close(self.open + rules.max_frames)
        return None

    def finish(self, total_frames: int) -> Optional[tuple[int, int]]:
        """Close the open segment at the end of the stream."""
        if self.open is None:
            return None
        return self._close(min(self.last + 1 + self.rules.post, total_frames))

    def earliest_needed(self) -> int:
        """The first frame a segment can still start at."""
        if self.open is not None:
            return self.open
        return max(self.prev_end, self.pos - self.rules.pre)

    def _close(self, end: int) -> tuple[int, int]:
        assert self.open is not None
        span = (self.open, end)
        self.open, self.last, self.prev_end = None, -1, end
        return span
