"""benchmarks/speed/floor.py and common/macs.py: MAC counts against PyTorch's own FLOP counter, and the bound's
arithmetic."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("onnx")

from benchmarks.common.macs import FLOAT_PARTS, INT8_PARTS, lower_bound_s, model_macs  # noqa: E402
from benchmarks.speed.floor import compute_floor  # noqa: E402


def _config(**overrides):
    base = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, conv_dim=[32] * 7,
                feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=16,
                num_conv_pos_embedding_groups=4, vocab_size=20)
    base.update(overrides)
    return transformers.Wav2Vec2Config(**base)


@pytest.mark.parametrize("seconds, width", [(1.0, 16), (0.73, 16), (2.0, 9)])
def test_macs_match_torch_flop_counter(seconds: float, width: int) -> None:
    from torch.nn.utils import parametrize
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    config = _config(num_conv_pos_embeddings=width)
    model = transformers.Wav2Vec2ForCTC(config).eval()
    # The flop counter cannot see through the weight-norm parametrization; the conv is the same.
    parametrize.remove_parametrizations(model.wav2vec2.encoder.pos_conv_embed.conv, "weight")
    x = torch.randn(1, int(round(seconds * 16_000)))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        logits = model(x).logits
    counted = {str(op): flops / 2 for op, flops in counter.get_flop_counts()["Global"].items()}
    macs = model_macs(config.to_dict(), seconds)
    assert macs["frames"] == logits.shape[1]
    convs = macs["encoder_first_conv"] + macs["encoder_other_convs"] + macs["positional_conv"]
    assert counted["aten.convolution"] == convs
    assert counted["aten.addmm"] == macs["feature_projection"] + macs["transformer_linear"] + macs["ctc_head"]
    # Attention scores (QK^T and AV) run in a fused kernel the counter may skip: counted by formula.
    frames = macs["frames"]
    assert macs["attention_scores"] == 2 * 2 * frames * frames * 64
    assert set(INT8_PARTS) | set(FLOAT_PARTS) == set(macs) - {"frames"}


def test_lower_bound_arithmetic() -> None:
    macs = {part: 0.0 for part in INT8_PARTS + FLOAT_PARTS}
    macs.update(transformer_linear=8e9, attention_scores=1e9)
    bound = lower_bound_s(macs, {"int8": 4e11, "float32": 1e11})
    assert bound["int8_macs"] == 8e9 and bound["float32_macs"] == 1e9
    assert bound["phonedge_split_s"] == pytest.approx(0.02 + 0.01)
    assert bound["all_int8_s"] == pytest.approx(9e9 / 4e11)


def test_compute_floor_relates_the_reference_to_the_bound() -> None:
    config = _config().to_dict()
    floor = compute_floor(config, [0.5, 1.0], threads=1, reference_medians={"1": 0.25})
    rates = floor["gemm"]["best_macs_per_s"]
    assert rates["int8"] > 0 and rates["float32"] > 0
    assert {row["m"] for row in floor["gemm"]["rows"]} == {24, 49}
    one = floor["lengths"]["1"]
    assert one["max_speedup_phonedge_split"] == pytest.approx(0.25 / one["phonedge_split_s"])
    assert one["all_int8_s"] <= one["phonedge_split_s"] or rates["float32"] > rates["int8"]
    assert "reference_median_s" not in floor["lengths"]["0.5"]


def test_floor_gap_breakdown_accounts_for_a_real_run(reference_bundles) -> None:
    """The int8 reference bundle's fastest profiled run splits into kernel categories plus executor time,
    the int8 MatMuls are found, and nothing inside the encoder Loop is counted twice."""
    from benchmarks.speed.floor_gap import LOOP, category, kernel_breakdown

    run_s, parts = kernel_breakdown(reference_bundles["int8"], 1.0, 1, 3)
    assert parts[category("DynamicQuantizeMatMul")] > 0 and parts[LOOP] >= 0
    assert 0 < sum(parts.values()) <= run_s * 1.001
    assert category("Transpose") == "layout and shape" and category("Gelu") == "normalisation and activations"
