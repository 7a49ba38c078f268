"""The chunk windows of long audio."""

from __future__ import annotations

import pytest

from phonedge.chunking import Chunk, ChunkPlan, frames_to_drop
from phonedge.errors import PhonedgeError


def _kept_ranges(plan: ChunkPlan, n: int, rate: int) -> list[tuple[int, int]]:
    return [(c.start + c.left, c.stop - c.right) for c in plan.windows(n, rate)]


@pytest.mark.parametrize("n", [1, 1000, 16000 * 20, 16000 * 20 + 1, 16000 * 61 + 17, 16000 * 1200])
def test_windows_cover_the_audio_once(n: int) -> None:
    plan = ChunkPlan(chunk_s=20.0, left_s=4.0, right_s=4.0)
    kept = _kept_ranges(plan, n, 16000)
    assert kept[0][0] == 0
    assert kept[-1][1] == n
    for (_, end), (start, _) in zip(kept, kept[1:]):
        assert start == end  # kept parts tile the signal without gap or overlap
    for c in plan.windows(n, 16000):
        assert c.stop - c.start <= 20 * 16000


def test_short_audio_is_one_chunk_without_strides() -> None:
    assert list(ChunkPlan().windows(16000 * 5, 16000)) == [Chunk(0, 80000, 0, 0)]


def test_frames_to_drop_scales_by_ratio() -> None:
    chunk = Chunk(start=0, stop=320000, left=64000, right=64000)
    assert frames_to_drop(chunk, 999) == (200, 200)


@pytest.mark.parametrize("kwargs", [dict(chunk_s=0), dict(left_s=-1), dict(chunk_s=10, left_s=5, right_s=5)])
def test_bad_plans_are_refused(kwargs: dict) -> None:
    with pytest.raises(PhonedgeError):
        ChunkPlan(**kwargs)
