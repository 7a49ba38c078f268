"""The endpointer on its own: fixed pre/post margins around the speech, silence closes, max length cuts."""

from __future__ import annotations

import numpy as np
import pytest

from phonedge.endpoint import Endpointer, EndpointRules

RULES = EndpointRules(silence=12, pre=15, post=5, max_frames=750)


def frames(total: int, *runs: tuple[int, int]) -> np.ndarray:
    """A frame mask, true on the half-open runs given."""
    mask = np.zeros(total, dtype=bool)
    for start, stop in runs:
        mask[start:stop] = True
    return mask


def segments(rules: EndpointRules, speech: np.ndarray) -> list[tuple[int, int]]:
    ep = Endpointer(rules)
    spans = [span for s in speech if (span := ep.push(bool(s))) is not None]
    end = ep.finish(len(speech))
    return spans + ([end] if end is not None else [])


def test_a_segment_keeps_pre_and_post_frames_around_its_speech() -> None:
    speech = frames(120, (40, 45), (48, 49))
    assert segments(RULES, speech) == [(25, 54)]
    ep = Endpointer(RULES)
    for s in speech[:50]:
        ep.push(bool(s))
    assert ep.open == 25 and ep.end_if_closed == 54 and ep.earliest_needed() == 25


def test_silence_shorter_than_the_rule_keeps_one_segment() -> None:
    assert segments(RULES, frames(200, (40, 45), (56, 60))) == [(25, 65)]  # a gap of 11 frames
    assert segments(RULES, frames(200, (40, 45), (57, 60))) == [(25, 50), (50, 65)]  # 12: two; never overlapping


def test_the_end_of_the_stream_and_the_longest_segment() -> None:
    assert segments(RULES, frames(70, (55, 68))) == [(40, 70)]
    cut = segments(EndpointRules(12, 15, 5, max_frames=40), frames(200, (20, 150)))
    assert cut[0] == (5, 45) and all(b - a <= 40 for a, b in cut) and cut[-1][1] == 155


@pytest.mark.parametrize("seed", range(5))
def test_random_streams_against_the_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    speech = np.repeat(rng.random(300) < 0.3, 10) & (rng.random(3000) < 0.7)
    rules = EndpointRules(silence=int(rng.integers(5, 30)), pre=int(rng.integers(0, 20)),
                          post=int(rng.integers(0, 5)), max_frames=10**6)
    spans = segments(rules, speech)
    assert len(spans) > 5
    prev_end = 0
    for start, end in spans:
        hits = start + np.flatnonzero(speech[start:end])
        assert start == max(prev_end, hits[0] - rules.pre) and end == min(hits[-1] + 1 + rules.post, len(speech))
        later = speech[hits[-1] + 1 : hits[-1] + 1 + rules.silence]
        assert not later.any()
        prev_end = end
