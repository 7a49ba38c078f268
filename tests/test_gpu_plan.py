"""GPU-side runtime choices testable on the CPU: the chunk plan per provider and the IO-binding runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phonedge.chunking import GPU_CHUNK_S, ChunkPlan


def test_chunk_plan_per_provider() -> None:
    assert ChunkPlan.for_provider("cpu") == ChunkPlan()
    assert ChunkPlan.for_provider("cuda").chunk_s == GPU_CHUNK_S == ChunkPlan.for_provider("TensorRT").chunk_s
    # 30 s runs in one pass on a GPU, in chunks on the CPU.
    rate, stride, field = 16_000, 320, 400
    n = 30 * rate
    assert len(list(ChunkPlan.for_provider("cuda").windows(n, rate, stride, field))) == 1
    assert len(list(ChunkPlan.for_provider("cpu").windows(n, rate, stride, field))) > 1


@pytest.mark.export
def test_load_picks_the_provider_plan(layer_bundle: Path) -> None:
    import phonedge

    assert phonedge.load(layer_bundle).chunking == ChunkPlan()
    assert phonedge.load(layer_bundle, chunking=ChunkPlan(chunk_s=9.0)).chunking.chunk_s == 9.0


@pytest.mark.export
def test_io_binding_runner_matches_plain_run(layer_bundle: Path) -> None:
    from phonedge.session import SessionConfig, create_session, graph_runner

    session = create_session(layer_bundle / "model.onnx", SessionConfig())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 12_000)).astype(np.float32)
    mask = np.ones(x.shape, dtype=np.int64)
    mask[1, 9_000:] = 0
    feeds = {"input_values": x, "attention_mask": mask}
    plain = graph_runner(session, "logits")(feeds)
    bound = graph_runner(session, "logits", io_binding=True)(feeds)
    np.testing.assert_array_equal(bound, plain)
    assert bound.dtype == np.float32 and bound.shape[0] == 2
