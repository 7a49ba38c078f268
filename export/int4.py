"""4-bit block-wise storage of int8 MatMul weights, expanded back to int8 by ONNX Runtime when a session loads.

Stock 4-bit kernels (``MatMulNBits``) run several times slower than ONNX Runtime's int8 ones on
CPUs with VNNI or AMX. This form keeps the int8 kernels: each int8 weight column n (one output
channel, scale ``s_n``) is stored as 4-bit codes c in [-7, 7] per block of ``block`` rows, times a
small integer multiplier m in [1, 18] per block and column, so that the int8 weight is exactly
``c * m`` (|c * m| <= 126). A block's 4-bit step is therefore ``m * s_n``, chosen per block to
minimise the squared error against the float weights: block-wise 4-bit precision with the int8
graph's own scales. Two codes share a byte (4.25 bits per weight with the multipliers).

In the graph, a few standard int32 ops (Cast, Div, Sub, Mul, Concat, Reshape, Slice; opset 13)
turn the stored bytes into the int8 weight. All their inputs are initializers, so ONNX Runtime's
constant folding (on at every optimisation level but "disable") computes them once at load, and
the int8 MatMuls then run exactly as in an int8 bundle: numpy and onnxruntime only, no custom op.
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
_SEARCH = 3  # multipliers tried per block: the one that fits the block's largest weight, and 2 below it


@dataclass(frozen=True)
class Int4Weight:
    """One (K, N) weight in 4-bit form: packed codes, per-block multipliers and per-column int8 scales."""

    packed: NDArray[np.uint8]  # (blocks, block // 2, 1, N): high nibble = even row, low nibble = odd row
    multipliers: NDArray[np.uint8]  # (blocks, 1, N)
    scales: NDArray[np.float32]  # (N,): the int8 weight's scale per column
    rows: int  # K, before padding to whole blocks

    @property
    def block(self) -> int:
        """Rows per block."""
        return int(self.packed.shape[1] * 2)

    def int8(self) -> NDArray[np.int8]:
        """The int8 (K, N) weight this form stands for."""
        high = (self.packed >> 4).astype(np.int16)
        low = (self.packed & 15).astype(np.int16)
        codes = np.concatenate([high, low], axis=2).reshape(self.packed.shape[0], self.block, -1) - 8
        return (codes * self.multipliers.astype(np.int16)).reshape(-1, codes.shape[-1])[: self.rows].astype(np.int8)

    def dequantize(self) -> NDArray[np.float32]:
        """The float (K, N) weight the int8 MatMul computes with."""
        return self.int8().astype(np.float32) * self.scales


def quantize_int4(weight: NDArray[np.floating], block: int = DEFAULT_BLOCK) -> Int4Weight:
    """The 4-bit form of a float (K, N) MatMul weight, blocks of BLOCK rows (an even number) per column."""
    if block < 2 or block % 2:
        raise ValueError(f"block={block} must be an even number >= 2")
    w = np.asarray(weight, dtype=np.float32)
    rows, cols = w.shape
    blocks = -(-rows // block)
    padded = np.zeros((blocks * block, cols), np.float32)
    padded[:rows] = w
    column_max = np.abs(w).max(axis=0)
    scales = np.where(column_max > 0, column_max / INT8_MAX, 1.0).astype(np.float32)
    units = (padded / scales).reshape(blocks, block, cols)  # the weight in int8 steps
    fit = np.clip(np.ceil(np.abs(units).max(axis=1, keepdims=True) / CODE_MAX), 1, MULTIPLIER_MAX)
    best_m, best_codes, best_err = None, None, None
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
    stored = (best_codes + 8).astype(np.uint8).reshape(blocks, block // 2, 2, cols)
    packed = (stored[:, :, 0:1] << 4) | stored[:, :, 1:2]
    return Int4Weight(packed, best_m.astype(np.uint8), scales, rows)


def fake_quantize_int4(weight: NDArray[np.floating], block: int = DEFAULT_BLOCK) -> NDArray[np.float32]:
    """WEIGHT (K, N) after a round trip through the 4-bit form."""
    return quantize_int4(weight, block).dequantize()


def expansion_nodes(name: str, weight: Int4Weight, constants: dict[str, str]) -> tuple[list[Any], list[Any]]:
    """ONNX nodes and initializers that compute the int8 tensor NAME from WEIGHT's stored form.

    CONSTANTS maps the shared int32 scalars' roles ("16", "8") to initializer names already in the graph.
    """
    from onnx import TensorProto, helper, numpy_helper

    blocks, half, _one, cols = weight.packed.shape
    p = f"{name}_int4"
    inits = [
        numpy_helper.from_array(weight.packed, f"{p}_packed"),
        numpy_helper.from_array(weight.multipliers, f"{p}_multipliers"),
        numpy_helper.from_array(np.array([blocks, 2 * half, cols], np.int64), f"{p}_block_shape"),
        numpy_helper.from_array(np.array([blocks * 2 * half, cols], np.int64), f"{p}_shape"),
    ]
    n = helper.make_node
    nodes = [
        n("Cast", [f"{p}_packed"], [f"{p}_bytes"], to=TensorProto.INT32, name=f"{p}/Cast"),
        n("Div", [f"{p}_bytes", constants["16"]], [f"{p}_high"], name=f"{p}/Div"),
        n("Mul", [f"{p}_high", constants["16"]], [f"{p}_high16"], name=f"{p}/Mul16"),
        n("Sub", [f"{p}_bytes", f"{p}_high16"], [f"{p}_low"], name=f"{p}/SubLow"),
        n("Concat", [f"{p}_high", f"{p}_low"], [f"{p}_pairs"], axis=2, name=f"{p}/Concat"),
        n("Reshape", [f"{p}_pairs", f"{p}_block_shape"], [f"{p}_stored"], name=f"{p}/ReshapeBlocks"),
        n("Sub", [f"{p}_stored", constants["8"]], [f"{p}_codes"], name=f"{p}/SubOffset"),
        n("Cast", [f"{p}_multipliers"], [f"{p}_m"], to=TensorProto.INT32, name=f"{p}/CastM"),
        n("Mul", [f"{p}_codes", f"{p}_m"], [f"{p}_values"], name=f"{p}/Mul"),
        n("Cast", [f"{p}_values"], [f"{p}_int8"], to=TensorProto.INT8, name=f"{p}/CastInt8"),
    ]
    if blocks * 2 * half == weight.rows:
        nodes.append(n("Reshape", [f"{p}_int8", f"{p}_shape"], [name], name=f"{p}/Reshape"))
    else:
        inits += [
            numpy_helper.from_array(np.array([0], np.int64), f"{p}_start"),
            numpy_helper.from_array(np.array([weight.rows], np.int64), f"{p}_end"),
        ]
        nodes += [
            n("Reshape", [f"{p}_int8", f"{p}_shape"], [f"{p}_padded"], name=f"{p}/Reshape"),
            n("Slice", [f"{p}_padded", f"{p}_start", f"{p}_end"], [name], name=f"{p}/Slice"),
        ]
    return nodes, inits


def store_int4(float_graph: Path, path: Path, block: int = DEFAULT_BLOCK) -> dict[str, Any]:
    """Rewrite the int8 graph at PATH so its MatMul weights are stored in 4-bit form; return the manifest's record.

    The weights are quantized again from FLOAT_GRAPH's float ones (the graph PATH was quantized
    from), and each int8 weight's per-column scale is replaced by the 4-bit form's. The feature
    encoder's MatMuls (a few percent of the weights, which run inside its Loop) stay int8.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

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
    constants = {"16": "phonedge_int4_sixteen", "8": "phonedge_int4_offset"}
    added = [
        helper.make_tensor(constants["16"], TensorProto.INT32, [], [16]),
        helper.make_tensor(constants["8"], TensorProto.INT32, [], [8]),
    ]
    nodes: list[Any] = []
    drop = set()
    stored_bytes = 0
    for name in names:
        weight = quantize_int4(numpy_helper.to_array(floats[name]), block)
        expand, tensors = expansion_nodes(name + QUANTIZED_SUFFIX, weight, constants)
        nodes += expand
        added += tensors
        stored_bytes += weight.packed.nbytes + weight.multipliers.nbytes
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
