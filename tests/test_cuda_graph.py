"""The CUDA graph rewrites (bool Tile -> Expand) and the placement check, on synthetic graphs and profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from phonedge_export.cuda_graph import placement_from_profile, profile_placement, tile_to_expand  # noqa: E402


def _repeat_graph(unsqueeze_axis: int, repeats_tail_axis: int) -> onnx.ModelProto:
    """mask (B, T) bool -> Unsqueeze -> Expand(ones) -> Tile(repeats = [1, 1, H] with H computed) -> Not."""
    ones = [1, 1]
    nodes = [
        helper.make_node("Constant", [], ["axes"], value=helper.make_tensor("a", TensorProto.INT64, [1], [unsqueeze_axis])),
        helper.make_node("Unsqueeze", ["mask", "axes"], ["unsq"]),
        helper.make_node("Constant", [], ["rank"], value=helper.make_tensor("r", TensorProto.INT64, [1], [3])),
        helper.make_node("ConstantOfShape", ["rank"], ["fill"], value=helper.make_tensor("v", TensorProto.INT64, [1], [1])),
        helper.make_node("Expand", ["unsq", "fill"], ["expanded"]),
        helper.make_node("Shape", ["hidden"], ["hshape"]),
        helper.make_node("Constant", [], ["two"], value=helper.make_tensor("t", TensorProto.INT64, [], [2])),
        helper.make_node("Gather", ["hshape", "two"], ["h"], axis=0),
        helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", TensorProto.INT64, [1], [0])),
        helper.make_node("Unsqueeze", ["h", "zero"], ["h1"]),
        helper.make_node("Constant", [], ["ones"], value=helper.make_tensor("o", TensorProto.INT64, [2], ones)),
        helper.make_node("Concat", ["ones", "h1"] if repeats_tail_axis == 2 else ["h1", "ones"], ["repeats"], axis=0),
        helper.make_node("Tile", ["expanded", "repeats"], ["tiled"]),
        helper.make_node("Not", ["tiled"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("mask", TensorProto.BOOL, ["B", "T"]),
         helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["B", "T", "H"])],
        [helper.make_tensor_value_info("out", TensorProto.BOOL, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, mask: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"mask": mask, "hidden": hidden})[0]


def test_bool_tile_over_unsqueezed_axis_becomes_expand() -> None:
    model = _repeat_graph(unsqueeze_axis=-1, repeats_tail_axis=2)
    rng = np.random.default_rng(0)
    mask, hidden = rng.random((2, 5)) > 0.3, rng.standard_normal((2, 5, 6)).astype(np.float32)
    before = _run(model, mask, hidden)
    assert tile_to_expand(model) == 1
    assert [n.op_type for n in model.graph.node].count("Tile") == 0
    np.testing.assert_array_equal(_run(model, mask, hidden), before)
    assert before.shape == (2, 5, 6)


def test_tile_repeating_a_real_axis_stays() -> None:
    model = _repeat_graph(unsqueeze_axis=-1, repeats_tail_axis=0)  # repeats [H, 1, 1]: axis 0 is the batch
    assert tile_to_expand(model) == 0
    assert [n.op_type for n in model.graph.node].count("Tile") == 1


def _event(name: str, op: str, provider: str, outputs: list) -> dict:
    return {"cat": "Node", "name": f"{name}_kernel_time", "args": {"op_name": op, "provider": provider,
                                                                  "output_type_shape": outputs}}


def test_placement_from_profile_classifies_nodes() -> None:
    cuda, cpu = "CUDAExecutionProvider", "CPUExecutionProvider"
    events = [
        {"cat": "Session", "name": "model_loading_uri", "args": {}},
        _event("/enc/MatMul", "MatMul", cuda, [{"float16": [1, 49, 1024]}]),
        _event("/enc/MatMul", "MatMul", cuda, [{"float16": [1, 49, 1024]}]),  # a second run: counted once
        _event("/enc/Shape", "Shape", cpu, [{"int64": [3]}]),
        _event("/enc/Concat", "Concat", cpu, [{"int64": [3]}]),
        _event("/enc/Equal", "Equal", cpu, [{"bool": [4]}]),  # an Expand's shape logic
        _event("/enc/Tile", "Tile", cpu, [{"bool": [1, 49, 1024]}]),
        _event("Memcpy_token_1", "MemcpyToHost", cpu, [{"bool": [1, 49, 1]}]),
    ]
    report = placement_from_profile(events)
    assert report["nodes"] == 6 and report["providers"] == {cuda: 1, cpu: 5}
    assert [m["node"] for m in report["memcpy"]] == ["Memcpy_token_1"]
    assert [f["op"] for f in report["cpu_fallbacks"]] == ["Tile"]
    assert report["cpu_shape_nodes"] == 3 and report["clean"] is False
    clean = placement_from_profile(events[:6])
    assert clean["clean"] is True and clean["cpu_shape_nodes"] == 3


def test_profile_placement_runs_a_real_profile(layer_bundle: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(1).standard_normal((1, 8000)).astype(np.float32)
    feeds = {"input_values": x, "attention_mask": np.ones(x.shape, dtype=np.int64)}
    report = profile_placement(layer_bundle / "model.onnx", feeds, ["CPUExecutionProvider"], tmp_path)
    assert report["nodes"] > 20 and set(report["providers"]) == {"CPUExecutionProvider"}
    assert not report["memcpy"]
    # On the CPU provider every data node counts as "not on CUDA": the check is made for CUDA runs.
    assert any(f["op"] == "MatMul" for f in report["cpu_fallbacks"])


def test_key_lengths_and_starts_layout() -> None:
    torch = pytest.importorskip("torch")
    from phonedge_export.attention import key_lengths_and_starts

    rng = np.random.default_rng(5)
    for _ in range(5):
        batch, frames = int(rng.integers(1, 6)), int(rng.integers(3, 40))
        lengths = rng.integers(1, frames + 1, size=batch)
        additive = torch.zeros(batch, 1, frames, frames, dtype=torch.float16 if _ % 2 else torch.float32)
        for b, n in enumerate(lengths):
            additive[b, :, :, n:] = torch.finfo(additive.dtype).min
        got = key_lengths_and_starts(additive).numpy()
        starts = np.arange(batch + 1) * frames
        assert got.dtype == np.int32 and got.shape == (3 * batch + 2,)
        np.testing.assert_array_equal(got, np.concatenate([lengths, starts, starts]))
