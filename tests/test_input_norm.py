"""In-graph waveform normalisation (``--target cuda`` bundles) against the runtime's numpy rule."""

from __future__ import annotations

import numpy as np
import pytest

from phonedge.features import normalize, pad_batch, stack_batch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from phonedge_export.input_norm import normalize_in_graph  # noqa: E402

TOL = 1e-5


def _identity_graph(masked: bool, opset: int) -> "onnx.ModelProto":
    """input_values (and attention_mask) -> logits = input_values: shows exactly what the head feeds on."""
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["batch", "samples"])]
    nodes = [helper.make_node("Identity", ["input_values"], ["logits"])]
    if masked:
        inputs.append(helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "samples"]))
        nodes.append(helper.make_node("Identity", ["attention_mask"], ["mask_out"]))
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "samples"])]
    if masked:
        outputs.append(helper.make_tensor_value_info("mask_out", TensorProto.INT64, ["batch", "samples"]))
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _session(model: "onnx.ModelProto") -> "ort.InferenceSession":
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _raw(rng: np.random.Generator, n: int) -> np.ndarray:
    """Audio-like samples with an offset and a scale far from (0, 1), so the normalisation matters."""
    return (rng.uniform(-2, 2) + rng.uniform(0.01, 5) * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("opset", [14, 18])
def test_unmasked_head_matches_numpy_on_random_lengths(opset: int) -> None:
    model = _identity_graph(False, opset)
    normalize_in_graph(model)
    session = _session(model)
    rng = np.random.default_rng(opset)
    for n in rng.integers(400, 200_000, size=8):
        x = _raw(rng, int(n))
        got = session.run(["logits"], {"input_values": x[None]})[0][0]
        assert np.abs(got - normalize(x)).max() <= TOL
    # Equal lengths stacked as one batch: each row normalised on its own.
    rows = [_raw(rng, 16_000) for _ in range(4)]
    batch, mask = stack_batch(rows, with_mask=False)
    assert mask is None
    got = session.run(["logits"], {"input_values": batch})[0]
    for row, x in zip(got, rows):
        assert np.abs(row - normalize(x)).max() <= TOL


@pytest.mark.parametrize("padding_value", [0.0, 0.5])
@pytest.mark.parametrize("opset", [14, 18])
def test_masked_head_matches_numpy_on_padded_batches(opset: int, padding_value: float) -> None:
    model = _identity_graph(True, opset)
    normalize_in_graph(model, padding_value)
    session = _session(model)
    rng = np.random.default_rng(100 + opset)
    for _ in range(5):
        items = [_raw(rng, int(n)) for n in rng.integers(400, 60_000, size=int(rng.integers(1, 6)))]
        raw, mask = pad_batch(items, padding_value)
        want, _ = pad_batch([normalize(x) for x in items], padding_value)
        got = session.run(["logits"], {"input_values": raw, "attention_mask": mask})[0]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= TOL


def test_graph_without_input_values_is_refused() -> None:
    from onnx import TensorProto, helper

    from phonedge.errors import ExportError

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    with pytest.raises(ExportError, match="input_values"):
        normalize_in_graph(helper.make_model(graph))


def test_stack_batch_builds_only_what_the_graph_takes() -> None:
    rng = np.random.default_rng(3)
    equal = [rng.standard_normal(800).astype(np.float32) for _ in range(3)]
    batch, mask = stack_batch(equal, with_mask=True)
    assert batch.shape == (3, 800) and mask is not None and mask.dtype == np.int64 and mask.all()
    assert np.array_equal(batch, np.stack(equal))
    unequal = equal[:2] + [equal[2][:500]]
    batch, mask = stack_batch(unequal, padding_value=0.25, with_mask=True)
    want_batch, want_mask = pad_batch(unequal, 0.25)
    assert np.array_equal(batch, want_batch) and np.array_equal(mask, want_mask)
    assert stack_batch(unequal, with_mask=False)[1] is None
