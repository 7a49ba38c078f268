"""The model's multiply-accumulates from its config, split as phonedge's int8 bundle runs them, and the least
time they take at given rates: the arithmetic of the compute floor (speed/floor.py) and the ARM estimates
(platforms/arm_estimates.py)."""

from __future__ import annotations

from typing import Any, Sequence

from benchmarks.common.workloads import SAMPLE_RATE


def frames_after_encoder(samples: int, kernels: Sequence[int], strides: Sequence[int]) -> list[int]:
    """Output length of every feature-encoder conv, first to last."""
    lengths = []
    for kernel, stride in zip(kernels, strides):
        samples = (samples - kernel) // stride + 1
        lengths.append(samples)
    return lengths


def model_macs(config: dict[str, Any], seconds: float) -> dict[str, float]:
    """Multiply-accumulates of one forward pass over SECONDS of audio, by part of the model."""
    kernels, strides, dims = config["conv_kernel"], config["conv_stride"], config["conv_dim"]
    lengths = frames_after_encoder(int(round(seconds * SAMPLE_RATE)), kernels, strides)
    channels_in = [1] + list(dims[:-1])
    encoder = [n * d * c * k for n, d, c, k in zip(lengths, dims, channels_in, kernels)]
    frames, hidden, ffn = lengths[-1], config["hidden_size"], config["intermediate_size"]
    layers = config["num_hidden_layers"]
    groups, width = config["num_conv_pos_embedding_groups"], config["num_conv_pos_embeddings"]
    return {
        "frames": frames,
        "encoder_first_conv": float(encoder[0]),
        "encoder_other_convs": float(sum(encoder[1:])),
        "feature_projection": float(frames * dims[-1] * hidden),
        # The conv pads width // 2 on both sides: an even width gives one frame more, dropped after.
        "positional_conv": float((frames + 2 * (width // 2) - width + 1) * hidden * (hidden // groups) * width),
        "transformer_linear": float(layers * frames * (4 * hidden * hidden + 2 * hidden * ffn)),
        "attention_scores": float(layers * 2 * frames * frames * hidden),
        "ctc_head": float(frames * hidden * config.get("vocab_size", 32)),
    }


INT8_PARTS = ("encoder_other_convs", "feature_projection", "transformer_linear", "ctc_head")
FLOAT_PARTS = ("encoder_first_conv", "positional_conv", "attention_scores")


def lower_bound_s(macs: dict[str, float], rates: dict[str, float]) -> dict[str, float]:
    """Least time for MACS at RATES: phonedge's split, and everything at the int8 rate."""
    int8 = sum(macs[p] for p in INT8_PARTS)
    other = sum(macs[p] for p in FLOAT_PARTS)
    return {
        "int8_macs": int8,
        "float32_macs": other,
        "phonedge_split_s": int8 / rates["int8"] + other / rates["float32"],
        "all_int8_s": (int8 + other) / rates["int8"],
    }
