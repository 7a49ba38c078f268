"""wav2vec2's positional conv exported as a 2-D conv over a height-1 image, before ONNX export.

The positional embedding is one grouped Conv1d (xlsr-53: 1024 channels, 16 groups, kernel 128)
behind a weight-norm parametrization. ONNX Runtime's CPU provider runs 1-D grouped convs through
a generic im2col path, but rewrites 2-D convs into its blocked (NCHWc) kernels at the default
optimisation level. The same weights as a (C, C/groups, 1, k) Conv2d give the same sums: measured
on the xlsr-53 shape with 2 threads, 10.4 ms -> 3.7 ms for 1 s of audio, equal at 3 s, 49 -> 42 ms
at 10 s (benchmarks/README.md). The weight norm is folded into a plain weight, so the graph no
longer recomputes it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

POS_CONVS = ("conv2d", "conv1d")


def build_conv2d_pos_conv(conv: Any) -> Any:
    """An ``nn.Module`` computing what the weight-normed ``nn.Conv1d`` CONV computes, as a Conv2d."""
    import torch
    from torch import nn

    class Conv1dAs2d(nn.Module):
        """(B, C, T) -> unsqueeze to (B, C, 1, T) -> Conv2d with kernel (1, k) -> (B, C', T')."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                kernel_size=(1, conv.kernel_size[0]),
                stride=(1, conv.stride[0]),
                padding=(0, conv.padding[0]),
                dilation=(1, conv.dilation[0]),
                groups=conv.groups,
                bias=conv.bias is not None,
            )
            with torch.no_grad():
                self.conv.weight.copy_(conv.weight.detach()[:, :, None, :])
                if conv.bias is not None and self.conv.bias is not None:
                    self.conv.bias.copy_(conv.bias.detach())

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            return self.conv(hidden[:, :, None, :])[:, :, 0, :]

    return Conv1dAs2d()


@contextmanager
def conv2d_pos_conv(model: Any) -> Iterator[Any]:
    """Swap MODEL's positional conv for its Conv2d form inside the block; the original comes back after."""
    embed = model.wav2vec2.encoder.pos_conv_embed
    original = embed.conv
    embed.conv = build_conv2d_pos_conv(original)
    try:
        yield model
    finally:
        embed.conv = original
