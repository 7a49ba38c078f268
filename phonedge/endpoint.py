"""Endpointing: split a stream of speech/non-speech frames into segments, on the frame grid.

Frames arrive in two kinds. *Committed* frames are final; each is examined once, in order.
*Tentative* frames (a window's right context) may still change: they are only looked at, never
recorded, to open a segment early or to close one early. Both kinds of decision are then fixed,
and since windows fall on a fixed grid, the segments never depend on how audio was cut into blocks.

Each frame also has a loudness (above the energy gate or not). It depends on the samples only,
never on the model, so a tentative frame's loudness is already final. A segment's edges follow
the loud run around its speech: it starts where the run of loud frames leading to its first
speech frame starts and ends where the run holding its last speech frame ends, each widened by a
margin, but never more than ``pre``/``post`` frames from the speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from numpy.typing import NDArray

from .speech import frame_energy_db  # noqa: F401  (its old home; stream and benchmarks used it here)


@dataclass(frozen=True)
class EndpointRules:
    """Endpoint rules in frames: silence run that ends a segment, kept margins, longest segment.

    ``pre``/``post``: the most kept before the first and after the last speech frame; ``margin``:
    kept beyond the loud run around the speech (within those bounds).
    """

    silence: int
    pre: int
    post: int
    max_frames: int
    margin: int = 0


class Endpointer:
    """The segmenting state machine; a segment is a frame span [start, end)."""

    def __init__(self, rules: EndpointRules) -> None:
        """Start idle at frame 0."""
        self.rules = rules
        self.open: Optional[int] = None  # start frame of the open segment
        self.last = -1  # last speech frame of the open segment
        self.prev_end = 0  # end frame of the last closed segment
        self.pos = 0  # next committed frame to examine
        self.loud = np.zeros(0, dtype=bool)  # loudness of committed frames from frame loud0 on
        self.loud0 = 0

    def window(
        self, committed: NDArray[np.bool_], tentative: NDArray[np.bool_], committed_to: int,
        loud: Optional[NDArray[np.bool_]] = None,
    ) -> list[tuple[int, int]]:
        """Examine newly committed frames (ending at ``committed_to``) and peek at tentative ones.

        ``loud``: per frame of ``committed`` then ``tentative``, above the energy gate (None: all are).
        Returns the segments closed, in order.
        """
        if loud is None:
            loud = np.ones(len(committed) + len(tentative), dtype=bool)
        first = committed_to - len(committed)
        assert first == self.loud0 + len(self.loud), "committed frames must follow on"
        self.loud = np.concatenate([self.loud, loud[: len(committed)]])
        closed = []
        for i, speech in enumerate(committed):
            span = self._frame(first + i, bool(speech))
            if span is not None:
                closed.append(span)
        self.pos = committed_to
        span = self._peek(tentative, committed_to, loud[len(committed) :])
        if span is not None:
            closed.append(span)
        keep = self.earliest_needed()
        if keep > self.loud0:
            self.loud = self.loud[keep - self.loud0 :].copy()
            self.loud0 = keep
        return closed

    def finish(self, total_frames: int) -> Optional[tuple[int, int]]:
        """Close the open segment at the end of the stream."""
        if self.open is None:
            return None
        return self._close(self._end(self.loud, min(self.last + 1 + self.rules.post, total_frames)))

    def earliest_needed(self) -> int:
        """The first frame a later segment or final can still start at (never past the committed ones)."""
        if self.open is not None:
            return min(self.pos, self.open)
        return min(self.pos, max(self.prev_end, self.pos - self.rules.pre))

    def _frame(self, f: int, speech: bool) -> Optional[tuple[int, int]]:
        rules = self.rules
        if self.open is None:
            if speech and f >= self.prev_end:
                self.open, self.last = self._start(self.loud, f), f
            return None
        if speech:
            self.last = max(self.last, f)
        elif f - self.last >= rules.silence:
            return self._close(self._end(self.loud, self.last + 1 + rules.post))
        if f + 1 - self.open >= rules.max_frames:
            return self._close(self.open + rules.max_frames)
        return None

    def _peek(
        self, tentative: NDArray[np.bool_], committed_to: int, loud: NDArray[np.bool_]
    ) -> Optional[tuple[int, int]]:
        rules = self.rules
        horizon = committed_to + len(tentative)
        speech = committed_to + np.flatnonzero(tentative)
        seen = np.concatenate([self.loud, loud])  # loudness of frames loud0 .. horizon
        if self.open is None:
            speech = speech[speech >= self.prev_end]
            if speech.size:
                self.open, self.last = self._start(seen, int(speech[0])), int(speech[0])
            return None
        last = max(self.last, int(speech[-1])) if speech.size else self.last
        if horizon - (last + 1) >= rules.silence:
            return self._close(self._end(seen, last + 1 + rules.post, last))
        if horizon - self.open >= rules.max_frames:
            return self._close(self.open + rules.max_frames)
        return None

    def _start(self, loud: NDArray[np.bool_], speech: int) -> int:
        """Start of a segment whose first speech frame is ``speech``: the loud run leading to it, less
        the margin, within ``pre`` frames of it and not before the last segment's end."""
        floor = max(self.prev_end, speech - self.rules.pre)
        assert floor >= self.loud0, "loudness before a possible segment start was dropped"
        run = speech
        while run > floor and loud[run - 1 - self.loud0]:
            run -= 1
        return max(floor, run - self.rules.margin)

    def _end(self, loud: NDArray[np.bool_], cap: int, last: Optional[int] = None) -> int:
        """End of a segment whose last speech frame is ``last`` (default: the recorded one): the end
        of the loud run holding it, plus the margin, at most ``cap``."""
        run = (self.last if last is None else last) + 1
        while run < cap and loud[run - self.loud0]:  # cap: never past the frames seen (post <= silence)
            run += 1
        return min(cap, run + self.rules.margin)

    def _close(self, end: int) -> tuple[int, int]:
        assert self.open is not None
        span = (self.open, end)
        self.open, self.last, self.prev_end = None, -1, end
        return span
