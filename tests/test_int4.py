"""int4 bundles: the 4-bit weight form, its in-graph expansion by ONNX Runtime, and the export end to end."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402
from phonedge_export.int4 import (  # noqa: E402
    CODE_MAX,
    INT8_MAX,
    MULTIPLIER_MAX,
    TABLE_NAME,
    decode_table,
    expansion_nodes,
    quantize_int4,
)


def _weight(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    w = rng.standard_normal((rows, cols)).astype(np.float32) * rng.uniform(0.01, 1.0, cols).astype(np.float32)
    w[rng.integers(rows), rng.integers(cols)] *= 20  # an outlier weight
    return w


@pytest.mark.parametrize("seed", range(6))
def test_int4_form_is_exact_int8_with_block_wise_4_bit_steps(seed):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(3, 200)), int(rng.integers(1, 40))
    block = int(rng.choice([3, 8, 16, 32, 64]))
    w = _weight(rng, rows, cols)
    q = quantize_int4(w, block)
    blocks = -(-rows // block)
    assert q.packed.dtype == np.uint8 and q.packed.shape == (blocks * block, (cols + 1) // 2)
    assert q.pairs.shape == (blocks, 1, (cols + 1) // 2)
    multipliers = q.multipliers()
    assert multipliers.min() >= 1 and multipliers.max() <= MULTIPLIER_MAX
    w8 = q.int8()
    assert w8.shape == (rows, cols) and w8.dtype == np.int8
    assert np.abs(w8.astype(int)).max() <= INT8_MAX
    # each block's int8 values are multiples of its multiplier, at most 15 distinct codes
    m = np.repeat(multipliers, block, axis=0)[:rows, :cols].astype(int)
    assert (w8.astype(int) % m == 0).all() and (np.abs(w8.astype(int) // m) <= CODE_MAX + 1).all()
    # unclipped values are within half a block step (the multiplier search may clip a block's extremes)
    step = m * q.scales
    err = np.abs(q.dequantize() - w)
    inside = np.abs(w8.astype(int) // m) < CODE_MAX
    assert (err[inside] <= 0.5 * step[inside] * (1 + 1e-5)).all()
    # and against plain block-wise 4-bit with free float scales it loses little
    free = np.zeros_like(w)
    for start in range(0, rows, block):
        part = w[start:start + block]
        scale = np.abs(part).max(axis=0) / CODE_MAX
        scale[scale == 0] = 1
        free[start:start + block] = np.clip(np.rint(part / scale), -CODE_MAX, CODE_MAX) * scale
    assert np.sqrt(((q.dequantize() - w) ** 2).mean()) <= 1.35 * np.sqrt(((free - w) ** 2).mean()) + 1e-9


def test_zero_columns_and_bad_blocks():
    q = quantize_int4(np.zeros((8, 3), np.float32), 4)
    assert (q.int8() == 0).all() and (q.scales == 1).all()
    with pytest.raises(ValueError, match="positive"):
        quantize_int4(np.ones((4, 4), np.float32), 0)


def test_decode_table_holds_every_byte_times_every_multiplier_pair():
    table = decode_table().astype(int)
    for m_even, m_odd, byte in ((1, 1, 0x8F), (18, 3, 0x1F), (7, 18, 0xF1), (5, 9, 0x88)):
        row = table[(m_even * (MULTIPLIER_MAX + 1) + m_odd) * 256 + byte]
        assert list(row) == [((byte >> 4) - 8) * m_even, ((byte & 15) - 8) * m_odd]


def _expansion_model(q, name="w") -> bytes:
    from onnx import numpy_helper

    nodes, inits = expansion_nodes(name, q, TABLE_NAME)
    inits.append(numpy_helper.from_array(decode_table(), TABLE_NAME))
    graph = helper.make_graph(
        nodes + [helper.make_node("Identity", [name], ["out"])], "g", [],
        [helper.make_tensor_value_info("out", TensorProto.INT8, list(q.shape))], initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("level", ["ORT_DISABLE_ALL", "ORT_ENABLE_ALL"])
@pytest.mark.parametrize("rows, cols, block", [(64, 24, 32), (144, 24, 32), (10, 7, 4), (33, 1, 32)])
def test_onnxruntime_expands_the_stored_form_to_the_same_int8(rows, cols, block, level):
    rng = np.random.default_rng(rows)
    q = quantize_int4(_weight(rng, rows, cols), block)
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    session = ort.InferenceSession(_expansion_model(q), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {})[0]
    assert got.dtype == np.int8 and np.array_equal(got, q.int8())


# ---------------------------------------------------------------- export and runtime


@pytest.fixture(scope="module")
def int4_bundle(tmp_path_factory, layer_model):
    pytest.importorskip("torch")
    from phonedge_export import export_bundle

    out = tmp_path_factory.mktemp("int4") / "bundle"
    export_bundle(layer_model, out, quantize="int4", min_frame_agreement=0.8)
    return out


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory, layer_model):
    from phonedge_export import export_bundle

    out = tmp_path_factory.mktemp("int8") / "bundle"
    export_bundle(layer_model, out, quantize="int8", min_frame_agreement=0.8)
    return out


def test_int4_bundle_stores_4_bit_weights_and_records_them(int4_bundle, int8_bundle):
    from phonedge.manifest import read_manifest

    manifest = read_manifest(int4_bundle)
    q = manifest.graph.quantization
    assert q["mode"] == "int4" and q["weight_storage"] == "int4" and q["method"] == "dynamic"
    graph = onnx.load(str(int4_bundle / "model.onnx")).graph
    inits = {t.name: t for t in graph.initializer}
    packed = [t for name, t in inits.items() if name.endswith("_int4_packed")]
    assert len(packed) == q["int4_matmuls"] > 0
    # no transformer MatMul keeps an int8 weight initializer
    integer = [n for n in graph.node if n.op_type == "MatMulInteger" and not n.name.startswith("/wav2vec2/feature_")]
    assert integer and all(n.input[1] not in inits for n in integer)
    int8_inits = {t.name: t for t in onnx.load(str(int8_bundle / "model.onnx")).graph.initializer}
    stored = sum(len(t.raw_data) for t in packed) + sum(
        len(inits[t.name.replace("_packed", "_pairs")].raw_data) for t in packed
    )
    replaced = sum(len(int8_inits[t.name[: -len("_int4_packed")]].raw_data) for t in packed)
    assert stored == q["int4_bytes"] and stored <= 0.6 * replaced  # 4.25 (block 32) of 8 bits per weight


def test_int4_bundle_runs_in_the_runtime_and_agrees_with_pytorch(int4_bundle, layer_model):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import phonedge

    rng = np.random.default_rng(5)
    audio = rng.standard_normal(24_000).astype(np.float32) * 0.1
    got = phonedge.load(int4_bundle).logits(audio)
    model = transformers.Wav2Vec2ForCTC.from_pretrained(str(layer_model)).eval()
    x = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)[None]).logits[0].numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 0.2 * np.abs(want).max()
    assert (got.argmax(-1) == want.argmax(-1)).mean() > 0.8


def test_int4_refuses_per_tensor_scales(tmp_path, layer_model):
    from phonedge_export import export_bundle

    from phonedge.errors import ExportError

    with pytest.raises(ExportError, match="per output channel"):
        export_bundle(layer_model, tmp_path / "b", quantize="int4", per_channel=False)


def test_cli_takes_int4_and_the_outlier_switches(tmp_path, layer_model):
    import json

    from click.testing import CliRunner
    from phonedge_export.cli import export as export_command

    args = [str(layer_model), "-o", str(tmp_path / "b"), "--quantize", "int4", "--no-smoothing",
            "--no-mixed-precision", "--min-frame-agreement", "0.5", "--json"]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{"):])["quantization"] == "int4"
    from phonedge.manifest import read_manifest

    outliers = read_manifest(tmp_path / "b").graph.quantization.get("outliers")
    assert outliers is None  # neither measured nor searched when both are off
