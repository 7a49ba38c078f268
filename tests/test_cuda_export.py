"""``--target cuda`` bundles: fused attention, CUDA-friendly graph rewrites, placement check (all on the CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.export]


def _export(src: Path, out: Path, **kwargs) -> Path:
    from phonedge_export import export_bundle

    export_bundle(src, out, overwrite=True, **kwargs)
    return out


def _ops(bundle: Path) -> dict[str, int]:
    import collections

    import onnx

    graph = onnx.load(str(bundle / "model.onnx"), load_external_data=False).graph
    return dict(collections.Counter(node.op_type for node in graph.node))


@pytest.fixture(scope="module")
def cuda_fp32(layer_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """float32 --target cuda bundle of the tiny layer-norm model (fused attention, masked)."""
    return _export(layer_model, tmp_path_factory.mktemp("cuda") / "fp32", quantize="none", target="cuda",
                   with_attention_mask=True)


def _raw_audio(rng: np.random.Generator, n: int) -> np.ndarray:
    """Samples with an offset and scale far from (0, 1): an in-graph normalisation must undo them."""
    return (0.3 + 2.5 * rng.standard_normal(n)).astype(np.float32)


def test_cuda_target_fuses_attention_and_keeps_fp32_parity(cuda_fp32: Path) -> None:
    import phonedge

    rec = phonedge.load(cuda_fp32)
    quant = rec.manifest.graph.quantization
    assert quant["target"] == "cuda" and quant["attention"] == "fused" and quant["encoder_pieces"] is None
    assert quant["tile_to_expand"] == 1 and quant["input_normalization"] == "graph"
    assert rec.manifest.audio.normalized_in_graph and not rec.manifest.audio.runtime_normalizes
    ops = _ops(cuda_fp32)
    assert ops.get("MultiHeadAttention") == 2  # one per layer of the tiny model
    assert "Softmax" not in ops and "Tile" not in ops and "Loop" not in ops
    # The key lengths come from the mask's data (device ops), not from shape arithmetic (CPU + Memcpy).
    import onnx

    attention_ops = {n.op_type for n in onnx.load(str(cuda_fp32 / "model.onnx")).graph.node if "/attention/" in n.name}
    assert "CumSum" in attention_ops and "Range" not in attention_ops, attention_ops
    parity = rec.manifest.parity
    assert parity["passed"] and parity["max_abs_logit_diff"] <= 1e-4
    assert parity["padded_batch"]["max_abs_logit_diff"] <= 1e-4


def test_cuda_bundle_logits_match_cpu_bundle(cuda_fp32: Path, layer_bundle: Path) -> None:
    import phonedge

    fused, plain = phonedge.load(cuda_fp32), phonedge.load(layer_bundle)
    rng = np.random.default_rng(3)
    items = [_raw_audio(rng, n) for n in (4_000, 9_000, 16_000, 6_500)]
    for x in items:
        np.testing.assert_allclose(fused.logits(x), plain.logits(x), atol=1e-4)
    # Padded, masked batches (the 3*B+2 key-length mask) give each item its single-call logits.
    batched = fused._batched_logits(items, batch_size=4)  # noqa: SLF001
    for x, got in zip(items, batched):
        np.testing.assert_allclose(got, fused.logits(x), atol=1e-4)


def test_cuda_fp16_export_passes_gate(layer_model: Path, tmp_path: Path) -> None:
    import phonedge

    bundle = _export(layer_model, tmp_path / "fp16", quantize="fp16", target="cuda")
    manifest = phonedge.load(bundle).manifest
    assert manifest.parity["passed"] and manifest.graph.quantization["weight_type"] == "float16"
    assert _ops(bundle).get("MultiHeadAttention") == 2


def test_fused_attention_without_mask(layer_model: Path, tmp_path: Path) -> None:
    import onnx

    bundle = _export(layer_model, tmp_path / "nomask", quantize="none", target="cuda", with_attention_mask=False)
    graph = onnx.load(str(bundle / "model.onnx")).graph
    fused = [node for node in graph.node if node.op_type == "MultiHeadAttention"]
    assert len(fused) == 2 and all(len(node.input) == 4 for node in fused)  # no key padding mask input
    assert [i.name for i in graph.input] == ["input_values"]


def test_cuda_default_is_unmasked_normalising_graph(layer_model: Path, layer_bundle: Path, tmp_path: Path) -> None:
    """--target cuda without a mask option: no mask (flash attention on CUDA), the graph normalises,
    and raw audio through the Recognizer gives the CPU bundle's logits, singly and in equal-length batches."""
    import phonedge

    bundle = _export(layer_model, tmp_path / "default", quantize="none", target="cuda")
    rec, plain = phonedge.load(bundle), phonedge.load(layer_bundle)
    assert rec.input_names == ["input_values"] and rec.manifest.audio.normalized_in_graph
    rng = np.random.default_rng(5)
    items = [_raw_audio(rng, n) for n in (5_000, 12_000, 5_000, 5_000)]
    for x in items:
        np.testing.assert_allclose(rec.logits(x), plain.logits(x), atol=1e-4)
    for x, got in zip(items, rec._batched_logits(items, batch_size=4)):  # noqa: SLF001
        np.testing.assert_allclose(got, plain.logits(x), atol=1e-4)


def test_default_export_is_unchanged(layer_bundle: Path) -> None:
    import phonedge

    quant = phonedge.load(layer_bundle).manifest.graph.quantization
    assert not {"target", "attention", "tile_to_expand", "input_normalization"} & set(quant)
    assert not phonedge.load(layer_bundle).manifest.audio.normalized_in_graph
    ops = _ops(layer_bundle)
    assert "MultiHeadAttention" not in ops and ops.get("Softmax") == 2 and ops.get("Tile") == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [({"quantize": "int8", "target": "cuda"}, "fp16"), ({"target": "tpu"}, "unknown target"),
     ({"attention": "flash"}, "unknown attention")],
)
def test_bad_target_options(layer_model: Path, tmp_path: Path, options: dict, message: str) -> None:
    from phonedge.errors import ExportError
    from phonedge_export import export_bundle

    with pytest.raises(ExportError, match=message):
        export_bundle(layer_model, tmp_path / "x", **options)
    assert not (tmp_path / "x").exists()


def test_cli_target_cuda(layer_model: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from phonedge.cli import main

    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["export", str(layer_model), "-o", str(out), "--quantize", "none",
                                       "--target", "cuda", "--json"])
    assert result.exit_code == 0, result.output
    assert _ops(out).get("MultiHeadAttention") == 2
