"""The chunk windows of long audio: frame-aligned, tiling the output frames exactly."""

from __future__ import annotations

import pytest

from phonedge.chunking import Chunk, ChunkPlan
from phonedge.errors import PhonedgeError

RATE, STRIDE, FIELD = 16000, 320, 400


def frames_for(n: int) -> int:
    return (n - FIELD) // STRIDE + 1


@pytest.mark.parametrize("n", [400, 1000, 16000 * 20, 16000 * 20 + 80, 16000 * 20 + 81, 16000 * 61 + 17,
                               16000 * 1200])
@pytest.mark.parametrize("plan", [ChunkPlan(), ChunkPlan(2.0, 0.4, 0.4), ChunkPlan(1.0, 0.0, 0.0),
                                  ChunkPlan(3.0, 0.5, 0.0)])
def test_kept_frames_tile_the_output(n: int, plan: ChunkPlan) -> None:
    size = plan.chunk_samples(RATE, STRIDE, FIELD)
    covered = []
    for c in plan.windows(n, RATE, STRIDE, FIELD):
        assert c.start % STRIDE == 0 and c.stop - c.start <= size
        assert c.stop - c.start >= FIELD
        assert 0 <= c.keep_from < c.keep_to <= frames_for(c.stop - c.start)
        covered += range(c.start // STRIDE + c.keep_from, c.start // STRIDE + c.keep_to)
    assert covered == list(range(frames_for(n)))


def test_short_audio_is_one_chunk_without_strides() -> None:
    assert list(ChunkPlan().windows(16000 * 5, RATE, STRIDE, FIELD)) == [Chunk(0, 80000, 0, frames_for(80000))]


def test_chunk_size_is_whole_strides_like_the_pipeline() -> None:
    # transformers' pipeline aligns chunk_length_s to inputs_to_logits_ratio: 20 s -> 320,000 samples.
    assert ChunkPlan(20.0).chunk_samples(RATE, STRIDE, FIELD) == 1000 * STRIDE


@pytest.mark.parametrize("kwargs", [dict(chunk_s=0), dict(left_s=-1), dict(chunk_s=10, left_s=5, right_s=5)])
def test_bad_plans_are_refused(kwargs: dict) -> None:
    with pytest.raises(PhonedgeError):
        ChunkPlan(**kwargs)


def test_plan_too_fine_for_the_frame_grid() -> None:
    with pytest.raises(PhonedgeError, match="no frame to keep"):
        list(ChunkPlan(0.02, 0.0, 0.01).windows(100000, RATE, STRIDE, FIELD))
