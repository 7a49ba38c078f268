"""The endpointer on its own: segment edges follow the loud run, within the pre/post bounds."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pytest

from phonedge.endpoint import Endpointer, EndpointRules

RULES = EndpointRules(silence=25, pre=15, post=15, max_frames=750, margin=1)


def frames(total: int, *runs: tuple[int, int]) -> np.ndarray:
    """A frame mask, true on the half-open runs given."""
    mask = np.zeros(total, dtype=bool)
    for start, stop in runs:
        mask[start:stop] = True
    return mask


def segments(rules: EndpointRules, speech: np.ndarray, loud: Optional[np.ndarray],
             cuts: Optional[list[int]] = None, tentative: int = 0) -> list[tuple[int, int]]:
    """Feed committed frames in pieces ending at ``cuts`` (each peeking at ``tentative`` more), then finish."""
    ep = Endpointer(rules)
    total = len(speech)
    spans: list[tuple[int, int]] = []
    at = 0
    for stop in [*(cuts or []), total]:
        if stop <= at:
            continue
        peek = min(total, stop + tentative)
        spans += ep.window(speech[at:stop], speech[stop:peek], stop, None if loud is None else loud[at:peek])
        at = stop
    end = ep.finish(total)
    return spans + ([end] if end is not None else [])


def by_rule(rules: EndpointRules, speech: np.ndarray, loud: Optional[np.ndarray]) -> list[tuple[int, int]]:
    """The segment rule on whole arrays, frame by frame (no windows, no history kept), as an oracle."""
    loud = np.ones(len(speech), dtype=bool) if loud is None else loud
    spans: list[tuple[int, int]] = []
    prev_end, opened, last = 0, None, -1

    def end(cap: int) -> int:
        run = last + 1
        while run < cap and loud[run]:
            run += 1
        return min(cap, run + rules.margin)

    for f, s in enumerate(speech):
        if opened is None:
            if s and f >= prev_end:
                floor = max(prev_end, f - rules.pre)
                run = f
                while run > floor and loud[run - 1]:
                    run -= 1
                opened, last = max(floor, run - rules.margin), f
        elif s:
            last = f
        elif f - last >= rules.silence:
            prev_end = end(last + 1 + rules.post)
            spans.append((opened, prev_end))
            opened = None
    if opened is not None:
        spans.append((opened, end(min(last + 1 + rules.post, len(speech)))))
    return spans


def test_a_segment_hugs_the_loud_run_around_its_speech() -> None:
    # Loud from frame 37 to 52; the model's tokens (speech) only at 40-44 and 48.
    loud = frames(120, (37, 53))
    speech = frames(120, (40, 45), (48, 49))
    assert segments(RULES, speech, loud) == [(36, 54)]  # the run less/plus one frame of margin
    assert segments(RULES, speech, None) == [(25, 64)]  # without loudness: pre/post frames from the speech
    assert segments(EndpointRules(25, 15, 15, 750, margin=0), speech, loud) == [(37, 53)]


def test_a_longer_loud_run_is_cut_at_pre_and_post_frames_from_the_speech() -> None:
    loud = frames(200, (0, 200))  # noise above the gate throughout
    speech = frames(200, (60, 65))
    assert segments(RULES, speech, loud) == segments(RULES, speech, None) == [(45, 80)]
    # Loud runs that start 20 frames early and end 3 after: only the start is capped.
    assert segments(RULES, speech, frames(200, (40, 68))) == [(45, 69)]


def test_a_segment_never_starts_before_the_last_one_ended() -> None:
    speech = frames(200, (30, 35), (60, 63))
    loud = frames(200, (28, 66))  # one loud run holds both: the second segment starts where the first ended
    rules = EndpointRules(silence=10, pre=30, post=10, max_frames=750, margin=2)
    assert segments(rules, speech, loud) == [(26, 45), (45, 68)]


def test_speech_in_tentative_frames_opens_at_the_run_start_in_committed_history() -> None:
    loud = frames(150, (45, 60))
    speech = frames(150, (50, 55))
    # Committed up to frame 48, peeking 20 frames ahead: the segment opens from the peek.
    ep = Endpointer(RULES)
    assert ep.window(speech[:48], speech[48:68], 48, loud[:68]) == []
    assert ep.open == 44
    assert segments(RULES, speech, loud, cuts=[48], tentative=20) == [(44, 61)]


def test_the_end_of_the_stream_ends_the_run() -> None:
    loud = frames(70, (50, 70))
    speech = frames(70, (55, 60))
    assert segments(RULES, speech, loud) == [(49, 70)]


@pytest.mark.parametrize("seed", range(5))
def test_random_streams_whatever_the_pieces(seed: int) -> None:
    """Committed-only feeding: the same segments however the frames are split; no loudness = the old rule."""
    rng = np.random.default_rng(seed)
    total = 3000
    speech = rng.random(total) < 0.02
    speech |= np.repeat(rng.random(total // 50) < 0.3, 50) & (rng.random(total) < 0.5)
    loud = speech | (rng.random(total) < 0.6)
    rules = EndpointRules(silence=int(rng.integers(5, 30)), pre=int(rng.integers(0, 20)), post=int(rng.integers(0, 5)),
                          max_frames=10**6, margin=int(rng.integers(0, 4)))
    whole = segments(rules, speech, loud)
    assert len(whole) > 10
    assert whole == by_rule(rules, speech, loud)
    assert whole == segments(rules, speech, loud, cuts=sorted(rng.integers(1, total, 200).tolist()))
    assert all(a[1] <= b[0] for a, b in zip(whole, whole[1:]))
    # Without loudness (or with every frame loud) the edges are pre/post frames from the speech, as before.
    old = by_rule(EndpointRules(rules.silence, rules.pre, rules.post, rules.max_frames), speech, None)
    assert segments(rules, speech, None) == segments(rules, speech, np.ones(total, dtype=bool)) == old
    prev_end = 0
    for start, end in old:
        hits = start + np.flatnonzero(speech[start:end])
        assert start == max(prev_end, hits[0] - rules.pre) and end == min(hits[-1] + 1 + rules.post, total)
        prev_end = end
