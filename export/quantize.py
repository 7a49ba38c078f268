"""Reduce the precision of an exported graph: ONNX Runtime dynamic int8 on MatMul weights, or float16.

int8 quantizes only the MatMul weights (attention projections, feed-forward layers, feature
projection, CTC head: nearly all parameters of a wav2vec2 model). The conv feature encoder and the
weight-normed positional conv stay float: ``quantize_dynamic`` fails on the positional conv's
computed weight, and ConvInteger is slow or missing on many ONNX Runtime builds. Weights are signed
int8 (QInt8, per output channel by default) and activations are quantized at run time to uint8:
the U8S8 pairing that ONNX Runtime's CPU kernels favour (VNNI and ARM dot-product instructions).
float16 converts the weights and activations with the converter that ships inside onnxruntime and
keeps float32 inputs and outputs, so the runtime feeds both kinds of graph the same arrays.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

from phonedge.errors import ExportError

from .onnx_graph import node_names, op_counts

QUANTIZE_MODES = ("none", "int8", "int4", "fp16")
WEIGHT_QUANTIZED_MODES = ("int8", "int4")  # int8 MatMuls (int4: with 4-bit weight storage, int4.py)
INT8_OP_TYPES = ("MatMul",)
INT8_WEIGHT_TYPE = "QInt8"
INT8_ACTIVATION_TYPE = "QUInt8"


def quantize_graph(
    source: Path,
    target: Path,
    mode: str,
    *,
    per_channel: bool = True,
    exclude_nodes: Sequence[str] = (),
    exclude_op_types: Sequence[str] = (),
    optimized: bool = False,
) -> dict[str, Any]:
    """Write SOURCE at precision MODE to TARGET and return the manifest's quantization record."""
    if mode not in QUANTIZE_MODES:
        raise ExportError(f"unknown quantization {mode!r}; use one of {', '.join(QUANTIZE_MODES)}")
    unknown = sorted(set(exclude_nodes) - node_names(source))
    if unknown:
        raise ExportError(
            f"excluded node(s) not in the graph: {', '.join(unknown)}; node names look like "
            "'/wav2vec2/encoder/layers.0/feed_forward/intermediate_dense/MatMul'"
        )
    record: dict[str, Any] = {
        "mode": mode,
        "per_channel": None,
        "weight_type": "float32",
        "op_types": [],
        "excluded_nodes": sorted(exclude_nodes),
        "excluded_op_types": sorted(exclude_op_types),
        "optimized": optimized,
    }
    if mode == "none":
        shutil.copyfile(source, target)
    elif mode in WEIGHT_QUANTIZED_MODES:
        if mode == "int4" and not per_channel:
            raise ExportError("int4 stores weights with int8 scales per output channel; drop per_channel=False")
        record.update(_int8(source, target, per_channel, exclude_nodes, exclude_op_types))
        if mode == "int4":
            from .int4 import store_int4

            record.update(store_int4(source, target))
    else:
        record.update(_fp16(source, target, exclude_nodes, exclude_op_types))
    return record


def _int8(
    source: Path, target: Path, per_channel: bool, exclude_nodes: Sequence[str], exclude_op_types: Sequence[str]
) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    op_types = [op for op in INT8_OP_TYPES if op not in set(exclude_op_types)]
    if not op_types:
        raise ExportError(f"excluding {', '.join(INT8_OP_TYPES)} leaves nothing to quantize; use quantize='none'")
    prepared = Path(target).with_name(Path(target).stem + ".prepared.onnx")
    try:
        # Shape inference and the pre-process metadata quantize_dynamic looks for. Symbolic shape
        # inference fails on wav2vec2's length arithmetic and ONNX's own inference suffices here.
        quant_pre_process(str(source), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
        quantize_dynamic(
            prepared,
            target,
            op_types_to_quantize=op_types,
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude_nodes),
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        prepared.unlink(missing_ok=True)
    _drop_value_info(target)
    quantized = op_counts(target).get("MatMulInteger", 0)
    if quantized == 0:
        raise ExportError("int8 quantization changed no MatMul (all excluded?); use quantize='none' instead")
    return {
        "method": "dynamic",
        "per_channel": per_channel,
        "weight_type": INT8_WEIGHT_TYPE,
        "activation_type": INT8_ACTIVATION_TYPE,
        "op_types": op_types,
        "quantized_nodes": quantized,
    }


def _drop_value_info(path: Path) -> None:
    """Remove the intermediate shapes shape inference stored (ONNX Runtime infers them again at load)."""
    import onnx

    model = onnx.load(str(path))
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def _fp16(source: Path, target: Path, exclude_nodes: Sequence[str], exclude_op_types: Sequence[str]) -> dict[str, Any]:
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = convert_float_to_float16(
        onnx.load(str(source)),
        keep_io_types=True,
        op_block_list=sorted(set(DEFAULT_OP_BLOCK_LIST) | set(exclude_op_types)),
        node_block_list=list(exclude_nodes),
    )
    onnx.save(model, str(target))
    halves = sum(1 for tensor in model.graph.initializer if tensor.data_type == onnx.TensorProto.FLOAT16)
    return {"weight_type": "float16", "keep_io_types": True, "float16_initializers": halves}
