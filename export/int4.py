"""4-bit block-wise storage of int8 MatMul weights, expanded back to int8 by ONNX Runtime when a session loads.

Stock 4-bit kernels (``MatMulNBits``) run several times slower than ONNX Runtime's int8 ones on
CPUs with VNNI or AMX. This form keeps the int8 kernels: each int8 weight column n (one output
channel, scale ``s_n``) is stored as 4-bit codes c in [-7, 7] per block of ``block`` rows, times a
small integer multiplier m in [1, 18] per block and column, so that the int8 weight is exactly
``c * m`` (|c * m| <= 126). A block's 4-bit step is therefore ``m * s_n``, chosen per block to
minimise the squared error against the float weights: block-wise 4-bit precision with the int8
graph's own scales. Two codes share a byte (4.25 bits per weight with the multipliers).

Two codes share a byte: those of columns 2j and 2j+1 of one row, whose two multipliers are
stored together as one uint16 index (m_even * 19 + m_odd) per block and column pair. In the
graph, Cast, Mul and Add turn byte and multiplier pair into an index, one Gather reads both int8
values from a 185 KB table (every byte times every multiplier pair), and a Reshape (plus a Slice
for padded shapes) gives the int8 weight. All inputs are initializers, so ONNX Runtime's constant
folding (on at every optimisation level but "disable") computes it once at load, and the int8
MatMuls then run exactly as in an int8 bundle: numpy and onnxruntime only, no custom op.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phonedge.errors import ExportError

DEFAULT_BLOCK = 32
CODE_MAX = 7
MULTIPLIER_MAX = 18  # CODE_MAX * MULTIPLIER_MAX = 126 <= 127
INT8_MAX = CODE_MAX * MULTIPLIER_MAX
QUANTIZED_SUFFIX, SCALE_SUFFIX = "_quantized", "_scale"  # onnxruntime.quantization's initializer names
FEATURE_ENCODER_PREFIX = "/wav2vec2/feature_extractor/"
PAIR_BASE = MULTIPLIER_MAX + 1
TABLE_NAME = "phonedge_int4_table"
_SEARCH = 3  # multipliers tried per block: the one that fits the block's largest weight, and 2 below it


@dataclass(frozen=True)
class Int4Weight:
    """One (K, N) weight in 4-bit form: packed codes, per-block multiplier pairs and per-column int8 scales."""

    packed: NDArray[np.uint8]  # (blocks * block, N' / 2): high nibble = even column, low nibble = odd column
    pairs: NDArray[np.uint16]  # (blocks, 1, N' / 2): m_even * PAIR_BASE + m_odd
    scales: NDArray[np.float32]  # (N,): the int8 weight's scale per column
    rows: int  # K, before padding to whole blocks
    block: int

    @property
    def shape(self) -> tuple[int, int]:
        """(K, N) of the int8 weight."""
        return self.rows, int(self.scales.shape[0])

    def multipliers(self) -> NDArray[np.int16]:
        """(blocks, N') multiplier of every block and (padded) column."""
        even, odd = np.divmod(self.pairs[:, 0].astype(np.int16), PAIR_BASE)
        return np.stack([even, odd], axis=-1).reshape(self.pairs.shape[0], -1)

    def int8(self) -> NDArray[np.int8]:
        """The int8 (K, N) weight this form stands for."""
        codes = np.stack([self.packed >> 4, self.packed & 15], axis=-1).reshape(self.packed.shape[0], -1)
        values = (codes.astype(np.int16) - 8) * np.repeat(self.multipliers(), self.block, axis=0)
        rows, cols = self.shape
        return values[:rows, :cols].astype(np.int8)

    def dequantize(self) -> NDArray[np.float32]:
        """The float (K, N) weight the int8 MatMul computes with."""
        return self.int8().astype(np.float32) * self.scales


def quantize_int4(weight: NDArray[np.floating], block: int = DEFAULT_BLOCK) -> Int4Weight:
    """The 4-bit form of a float (K, N) MatMul weight, blocks of BLOCK rows per column."""
    if block < 1:
        raise ValueError(f"block={block} must be a positive number of rows")
    w = np.asarray(weight, dtype=np.float32)
    rows, cols = w.shape
    blocks = -(-rows // block)
    padded = np.zeros((blocks * block, cols + cols % 2), np.float32)
    padded[:rows, :cols] = w
    column_max = np.abs(padded).max(axis=0)
    scales = np.where(column_max > 0, column_max / INT8_MAX, 1.0).astype(np.float32)
    units = (padded / scales).reshape(blocks, block, -1)  # the weight in int8 steps
    fit = np.clip(np.ceil(np.abs(units).max(axis=1, keepdims=True) / CODE_MAX), 1, MULTIPLIER_MAX)
    best_m: Any = None  # the best multipliers, codes and errors so far, per block and column
    best_codes: Any = None
    best_err: Any = None
    for lower in range(_SEARCH):
        m = np.clip(fit - lower, 1, MULTIPLIER_MAX)
        codes = np.clip(np.rint(units / m), -CODE_MAX, CODE_MAX)
        err = ((codes * m - units) ** 2).sum(axis=1, keepdims=True)
        if best_err is None:
            best_m, best_codes, best_err = m, codes, err
        else:
            better = err < best_err
            best_m = np.where(better, m, best_m)
            best_codes = np.where(better, codes, best_codes)
            best_err = np.minimum(err, best_err)
    stored = (best_codes + 8).astype(np.uint8).reshape(blocks * block, -1)
    packed = (stored[:, 0::2] << 4) | stored[:, 1::2]
    m = best_m.astype(np.uint16)
    pairs = m[:, :, 0::2] * PAIR_BASE + m[:, :, 1::2]
    return Int4Weight(packed, pairs, scales[:cols], rows, block)


def fake_quantize_int4(weight: NDArray[np.floating], block: int = DEFAULT_BLOCK) -> NDArray[np.float32]:
    """WEIGHT (K, N) after a round trip through the 4-bit form."""
    return quantize_int4(weight, block).dequantize()


def decode_table() -> NDArray[np.int8]:
    """(PAIR_BASE**2 * 256, 2) int8: row (pair index * 256 + byte) holds the byte's two codes times the pair."""
    byte = np.arange(256)
    m_even, m_odd = np.divmod(np.arange(PAIR_BASE**2), PAIR_BASE)
    high = (byte[None, :] >> 4) - 8
    low = (byte[None, :] & 15) - 8
    table = np.stack([high * m_even[:, None], low * m_odd[:, None]], axis=-1).reshape(-1, 2)
    return np.clip(table, -128, 127).astype(np.int8)  # bytes with code 0 (-8) never occur with m > 15


def expansion_nodes(name: str, weight: Int4Weight, table: str) -> tuple[list[Any], list[Any]]:
    """ONNX nodes and initializers that compute the int8 tensor NAME from WEIGHT's stored form.

    TABLE names the graph's ``decode_table()`` initializer, shared by every weight.
    """
    from onnx import TensorProto, helper, numpy_helper

    p = f"{name}_int4"
    blocks, half = weight.pairs.shape[0], weight.pairs.shape[2]
    rows, cols = weight.shape
    inits = [
        numpy_helper.from_array(weight.packed.reshape(blocks, weight.block, half), f"{p}_packed"),
        numpy_helper.from_array(weight.pairs, f"{p}_pairs"),
        numpy_helper.from_array(np.array([256], np.int32), f"{p}_bytes"),
        numpy_helper.from_array(np.array([blocks * weight.block, 2 * half], np.int64), f"{p}_shape"),
    ]
    n = helper.make_node
    full = f"{p}_full" if (blocks * weight.block, 2 * half) != (rows, cols) else name
    nodes = [
        n("Cast", [f"{p}_packed"], [f"{p}_byte"], to=TensorProto.INT32, name=f"{p}/CastBytes"),
        n("Cast", [f"{p}_pairs"], [f"{p}_pair"], to=TensorProto.INT32, name=f"{p}/CastPairs"),
        n("Mul", [f"{p}_pair", f"{p}_bytes"], [f"{p}_offset"], name=f"{p}/Mul"),
        n("Add", [f"{p}_byte", f"{p}_offset"], [f"{p}_index"], name=f"{p}/Add"),
        n("Gather", [table, f"{p}_index"], [f"{p}_values"], axis=0, name=f"{p}/Gather"),
        n("Reshape", [f"{p}_values", f"{p}_shape"], [full], name=f"{p}/Reshape"),
    ]
    if full != name:
        inits += [
            numpy_helper.from_array(np.array([0, 0], np.int64), f"{p}_start"),
            numpy_helper.from_array(np.array([rows, cols], np.int64), f"{p}_end"),
        ]
        nodes.append(n("Slice", [full, f"{p}_start", f"{p}_end"], [name], name=f"{p}/Slice"))
    return nodes, inits


def store_int4(float_graph: Path, path: Path, block: int = DEFAULT_BLOCK) -> dict[str, Any]:
    """Rewrite the int8 graph at PATH so its MatMul weights are stored in 4-bit form; return the manifest's record.

    The weights are quantized again from FLOAT_GRAPH's float ones (the graph PATH was quantized
    from), and each int8 weight's per-column scale is replaced by the 4-bit form's. The feature
    encoder's MatMuls (a few percent of the weights, which run inside its Loop) stay int8.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    names: list[str] = []
    for node in graph.node:
        weight = node.input[1] if node.op_type == "MatMulInteger" else ""
        if (
            weight.endswith(QUANTIZED_SUFFIX)
            and weight in initializers
            and not node.name.startswith(FEATURE_ENCODER_PREFIX)
            and weight[: -len(QUANTIZED_SUFFIX)] not in names
        ):
            names.append(weight[: -len(QUANTIZED_SUFFIX)])
    if not names:
        raise ExportError("int4: the int8 graph has no quantized MatMul weight to store in 4 bits")
    wanted = set(names)
    floats = {t.name: t for t in onnx.load(str(float_graph)).graph.initializer if t.name in wanted}
    added = [numpy_helper.from_array(decode_table(), TABLE_NAME)]
    nodes: list[Any] = []
    drop = set()
    stored_bytes = 0
    for name in names:
        weight = quantize_int4(numpy_helper.to_array(floats[name]), block)
        expand, tensors = expansion_nodes(name + QUANTIZED_SUFFIX, weight, TABLE_NAME)
        nodes += expand
        added += tensors
        stored_bytes += weight.packed.nbytes + weight.pairs.nbytes
        drop.add(name + QUANTIZED_SUFFIX)
        scale = initializers[name + SCALE_SUFFIX]
        if tuple(scale.dims) != weight.scales.shape:
            raise ExportError(f"int4 needs per-channel int8 scales; {scale.name} has shape {tuple(scale.dims)}")
        scale.CopyFrom(numpy_helper.from_array(weight.scales, scale.name))
    kept = [tensor for tensor in graph.initializer if tensor.name not in drop]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)
    onnx.save(model, str(path))
    return {"weight_storage": "int4", "int4_block": block, "int4_matmuls": len(names), "int4_bytes": stored_bytes}
