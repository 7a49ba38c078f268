"""The wav2vec2 conv feature encoder rewritten as strided slices and MatMuls, before ONNX export.

ONNX Runtime's dynamic int8 quantization handles MatMul but not Conv (ConvInteger is slow or
missing on many builds), so in a plain export the seven feature-encoder convs stay fp32 and take
about 40% of an int8 model's time. Each conv over time is a MatMul over stacked frames: output
frame t of a conv with kernel k and stride s is W · [x_{ts}, x_{ts+1}, …, x_{ts+k-1}]. This module
computes exactly that, in (batch, time, channels) layout throughout, which also removes the two
Transposes around every channel LayerNorm. Its output equals the Hugging Face encoder's (fp32
parity is checked at export), and its MatMuls quantize like the transformer's.
"""

from __future__ import annotations

from typing import Any

FEATURE_ENCODERS = ("matmul", "conv")


def build_matmul_encoder(encoder: Any) -> Any:
    """An ``nn.Module`` computing what a ``Wav2Vec2FeatureEncoder`` computes, with MatMuls for convs."""
    import torch
    from torch import nn

    class FrameStack(nn.Module):
        """Stack k frames with stride s along time: (B, T, C) -> (B, T', k*C).

        Whole groups of s taps are one reshape of a contiguous slice (no gather); only the
        k mod s leftover taps need strided slices.
        """

        def __init__(self, kernel: int, stride: int, channels: int) -> None:
            super().__init__()
            self.kernel, self.stride, self.channels = kernel, stride, channels

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            k, s, c = self.kernel, self.stride, self.channels
            n = (x.shape[1] - k) // s + 1
            pieces = [x[:, g * s : g * s + n * s].reshape(x.shape[0], n, s * c) for g in range(k // s)]
            span = s * (n - 1) + 1
            pieces += [x[:, j : j + span : s] for j in range(k - k % s, k)]
            return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)

    class TimeGroupNorm(nn.Module):
        """GroupNorm with one group per channel (wav2vec2-base's first layer), in (B, T, C) layout."""

        def __init__(self, norm: nn.GroupNorm) -> None:
            super().__init__()
            self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean = x.mean(dim=1, keepdim=True)
            var = (x - mean).pow(2).mean(dim=1, keepdim=True)
            return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias

    class MatMulFeatureEncoder(nn.Module):
        """Conv layers as FrameStack + Linear (+ norm) + activation; returns (B, C, T) like the original."""

        def __init__(self) -> None:
            super().__init__()
            blocks = []
            for layer in encoder.conv_layers:
                conv = layer.conv
                k, s = conv.kernel_size[0], conv.stride[0]
                linear = nn.Linear(conv.in_channels * k, conv.out_channels, bias=conv.bias is not None)
                with torch.no_grad():
                    # Stacked input index j*C_in + c holds x[c] at offset j: weight[o, c, j] goes there.
                    linear.weight.copy_(conv.weight.permute(0, 2, 1).reshape(conv.out_channels, -1))
                    if conv.bias is not None:
                        linear.bias.copy_(conv.bias)
                norm = getattr(layer, "layer_norm", None)
                if isinstance(norm, nn.GroupNorm):
                    if norm.num_groups != norm.num_channels:
                        raise ValueError("only one-group-per-channel GroupNorm is supported")
                    norm = TimeGroupNorm(norm)
                stack = FrameStack(k, s, conv.in_channels)
                blocks.append(nn.Sequential(stack, linear, norm or nn.Identity(), layer.activation))
            self.blocks = nn.ModuleList(blocks)

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            hidden = input_values[:, :, None]
            for block in self.blocks:
                hidden = block(hidden)
            return hidden.transpose(1, 2)

    return MatMulFeatureEncoder()


def use_matmul_encoder(model: Any) -> Any:
    """Swap ``model.wav2vec2.feature_extractor`` for its MatMul form, in place; return the model."""
    base = model.wav2vec2
    base.feature_extractor = build_matmul_encoder(base.feature_extractor)
    return model


def waveform_matmuls(model: Any) -> tuple[str, ...]:
    """Names of the MatMul nodes of the ModelProto MODEL that read the raw waveform (the first encoder block).

    They stay float32: dynamic int8 would quantize the waveform itself to 8 bits per tensor, and the
    layer costs about 2% of the model's time.
    """
    prefix = "/wav2vec2/feature_extractor/blocks.0/"
    return tuple(n.name for n in model.graph.node if n.op_type == "MatMul" and n.name.startswith(prefix))


def quantize_before_stacking(model: Any) -> int:
    """Move each quantized encoder block's activation quantization ahead of its frame stacking.

    ONNX Runtime's dynamic int8 quantizes a MatMul's input right before the MatMul, which in the
    MatMul encoder is the stacked tensor: the Slice/Reshape/Concat copies then move float32 data,
    up to kernel/stride times the block input (94 MiB for the second block at 10 s of audio). Here
    the block input itself is quantized (one uint8 scale over it, a superset of what the stack reads)
    and the stacking moves uint8 bytes, a quarter as much. Rewrites the ModelProto MODEL in place;
    returns the number of blocks changed.
    """
    from onnx import helper

    nodes = list(model.graph.node)
    producer = {out: node for node in nodes for out in node.output}
    changed = 0
    for quantize in [n for n in nodes if n.op_type == "DynamicQuantizeLinear"]:
        scope = quantize.name.rsplit("/", 1)[0] + "/"
        if not scope.startswith("/wav2vec2/feature_extractor/blocks."):
            continue
        stacked = producer.get(quantize.input[0])
        if stacked is None or not stacked.name.startswith(scope):
            continue

        def from_outside(name: str, scope: str = scope) -> bool:
            source = producer.get(name)
            return source is None or not source.name.startswith(scope)

        slices = [n for n in nodes if n.op_type == "Slice" and n.name.startswith(scope) and from_outside(n.input[0])]
        sources = {n.input[0] for n in slices}
        if len(sources) != 1:
            continue
        (source,) = sources
        outputs = [f"{source}_stack_{kind}" for kind in ("quantized", "scale", "zero_point")]
        early = helper.make_node("DynamicQuantizeLinear", [source], outputs, name=scope + "StackInput_QuantizeLinear")
        renamed = dict(zip(quantize.output, [quantize.input[0]] + outputs[1:]))
        for node in nodes:
            if node in slices:
                node.input[0] = outputs[0]
            else:
                for i, name in enumerate(node.input):
                    if name in renamed:
                        node.input[i] = renamed[name]
        position = min(nodes.index(n) for n in slices)
        nodes.insert(position, early)
        nodes.remove(quantize)
        changed += 1
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return changed
