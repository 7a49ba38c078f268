"""wav2vec2 self-attention exported as ONNX Runtime's fused ``com.microsoft.MultiHeadAttention`` op.

The plain export writes each attention block as MatMul, Reshape, Transpose, Softmax and the mask
arithmetic around them; ONNX Runtime's transformer optimizer does not recognise that pattern in
wav2vec2 graphs (it fuses no attention there), so on CUDA the blocks run unfused where PyTorch
uses SDPA. This export form swaps each layer's attention module, for the export only, for one
that computes the three projections without their biases and hands Q, K, V, the packed biases and
the key lengths to one MultiHeadAttention node, which has CPU and CUDA kernels (the CPU one makes
float32 parity testable without a GPU).

The key padding mask is given in ONNX Runtime's "key lengths and starts" form, a vector of
3 * batch + 2 int32: each item's number of valid key frames, then the query starts (0, T, ..., B*T)
and the key starts (the same): the one mask form besides none that the CUDA kernel runs in its
memory-efficient (cutlass) attention rather than unfused. The mask the encoder passes to its layers
is additive (0 on valid keys, the dtype's minimum on padded ones), so the lengths are the count of
zeros in its first query row; a graph without an attention mask gets a MultiHeadAttention without one.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

ATTENTIONS = ("unfused", "fused")
MS_DOMAIN = "com.microsoft"
FUSED_OP = "MultiHeadAttention"


def build_fused_attention(attention: Any) -> Any:
    """An ``nn.Module`` computing what the ``Wav2Vec2Attention`` ATTENTION computes, exported as one fused op."""
    import torch
    from torch import nn

    heads, scaling = attention.num_heads, float(attention.scaling)

    class MultiHeadAttentionOp(torch.autograd.Function):
        """Masked scaled-dot-product attention in PyTorch; one MultiHeadAttention node in ONNX."""

        @staticmethod
        def forward(ctx: Any, query: Any, key: Any, value: Any, bias: Any, lengths: Any) -> Any:  # noqa: ARG004
            size = query.shape[-1]
            q, k, v = (x + b for x, b in zip((query, key, value), bias.split(size)))
            batch, frames = q.shape[:2]
            shape = (batch, frames, heads, size // heads)
            q, k, v = (x.reshape(shape).transpose(1, 2) for x in (q, k, v))
            valid = torch.arange(frames)[None, :] < lengths[:batch, None]
            mask = torch.zeros(batch, 1, 1, frames, dtype=q.dtype).masked_fill(~valid[:, None, None, :], float("-inf"))
            scores = torch.softmax(q @ k.transpose(-1, -2) * scaling + mask, dim=-1)
            return (scores @ v).transpose(1, 2).reshape(batch, frames, size)

        @staticmethod
        def symbolic(g: Any, query: Any, key: Any, value: Any, bias: Any, lengths: Any) -> Any:
            inputs = [query, key, value, bias] + ([lengths] if lengths is not None else [])
            out = g.op(f"{MS_DOMAIN}::{FUSED_OP}", *inputs, num_heads_i=heads, scale_f=scaling)
            out.setType(query.type())
            return out

    class UnmaskedOp(torch.autograd.Function):
        """The same attention over every key; one MultiHeadAttention node without a mask in ONNX."""

        @staticmethod
        def forward(ctx: Any, query: Any, key: Any, value: Any, bias: Any) -> Any:  # noqa: ARG004
            full = torch.full((query.shape[0],), query.shape[1], dtype=torch.int32)
            return MultiHeadAttentionOp.forward(ctx, query, key, value, bias, full)

        @staticmethod
        def symbolic(g: Any, query: Any, key: Any, value: Any, bias: Any) -> Any:
            return MultiHeadAttentionOp.symbolic(g, query, key, value, bias, None)

    class FusedSelfAttention(nn.Module):
        """Q, K, V projections (biases packed into the fused op) -> MultiHeadAttention -> output projection."""

        def __init__(self) -> None:
            super().__init__()
            self.q_proj, self.k_proj, self.v_proj = attention.q_proj, attention.k_proj, attention.v_proj
            self.out_proj = attention.out_proj
            packed = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]).detach()
            self.register_buffer("bias", packed, persistent=False)

        def forward(
            self, hidden_states: Any, attention_mask: Any = None, output_attentions: bool = False, **_: Any
        ) -> tuple[Any, None, None]:
            query, key, value = (
                nn.functional.linear(hidden_states, proj.weight) for proj in (self.q_proj, self.k_proj, self.v_proj)
            )
            if attention_mask is None:
                out = UnmaskedOp.apply(query, key, value, self.bias)
            else:
                out = MultiHeadAttentionOp.apply(query, key, value, self.bias, key_lengths_and_starts(attention_mask))
            return self.out_proj(out), None, None

    return FusedSelfAttention()


def key_lengths_and_starts(additive_mask: Any) -> Any:
    """ONNX Runtime's 3*B+2 key padding vector from an additive (B, 1, T, T) mask (0 = valid key).

    Everything is computed from the mask tensor itself in int32 (Equal, Cast, ReduceSum, CumSum,
    Concat: CUDA kernels for these types), not from its shape: arange(B + 1) * T exported as shape
    arithmetic, which ONNX Runtime runs on the CPU and copies to the device (a Memcpy per call).
    """
    import torch

    row = additive_mask[:, 0, 0, :]
    lengths = (row == 0).to(torch.int32).sum(dim=-1, dtype=torch.int32)
    frames = torch.ones_like(row, dtype=torch.int32).sum(dim=-1, dtype=torch.int32)
    starts = torch.cat([torch.zeros(1, dtype=torch.int32), torch.cumsum(frames, dim=0, dtype=torch.int32)])
    return torch.cat([lengths, starts, starts])


@contextmanager
def fused_attention(model: Any) -> Iterator[Any]:
    """Swap every encoder layer's attention of MODEL for its fused form inside the block; restored after."""
    layers = list(model.wav2vec2.encoder.layers)
    originals = [layer.attention for layer in layers]
    for layer, attention in zip(layers, originals):
        layer.attention = build_fused_attention(attention)
    try:
        yield model
    finally:
        for layer, attention in zip(layers, originals):
            layer.attention = attention
