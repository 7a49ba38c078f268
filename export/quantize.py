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

from pathlib import Path
from typing import Any, Sequence

from phonedge.errors import ExportError

QUANTIZE_MODES = ("none", "int8", "int4", "fp16")
WEIGHT_QUANTIZED_MODES = ("int8", "int4")  # int8 MatMuls (int4: with 4-bit weight storage, int4.py)
INT8_OP_TYPES = ("MatMul",)
INT8_WEIGHT_TYPE = "QInt8"
INT8_ACTIVATION_TYPE = "QUInt8"


def check_excluded_nodes(model: Any, exclude_nodes: Sequence[str]) -> None:
    """Raise ExportError naming the excluded nodes that the ModelProto MODEL lacks."""
    unknown = sorted(set(exclude_nodes) - {node.name for node in model.graph.node})
    if unknown:
        raise ExportError(
            f"excluded node(s) not in the graph: {', '.join(unknown)}; node names look like "
            "'/wav2vec2/encoder/layers.0/feed_forward/intermediate_dense/MatMul'"
        )


def quantize_graph(
    model: Any,
    source: Path,
    work: Path,
    mode: str,
    *,
    per_channel: bool = True,
    exclude_nodes: Sequence[str] = (),
    exclude_op_types: Sequence[str] = (),
    optimized: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The graph saved at SOURCE at precision MODE, and the manifest's quantization record.

    float32 and float16 work on MODEL, the graph's ModelProto, in memory; int8 and int4 run ONNX Runtime's
    quantizer from SOURCE into the folder WORK and loads its output once, so pass MODEL as None for
    it: ONNX Runtime then never meets a second copy of the float graph in memory. The returned
    ModelProto is the one to save.
    """
    if mode not in QUANTIZE_MODES:
        raise ExportError(f"unknown quantization {mode!r}; use one of {', '.join(QUANTIZE_MODES)}")
    record: dict[str, Any] = {
        "mode": mode,
        "per_channel": None,
        "weight_type": "float32",
        "op_types": [],
        "excluded_nodes": sorted(exclude_nodes),
        "excluded_op_types": sorted(exclude_op_types),
        "optimized": optimized,
    }
    if mode in WEIGHT_QUANTIZED_MODES:
        if mode == "int4" and not per_channel:
            raise ExportError("int4 stores weights with int8 scales per output channel; drop per_channel=False")
        model, extra = _int8(source, work, per_channel, exclude_nodes, exclude_op_types)
        if mode == "int4":
            model, more = _int4(model, source, work)
            extra.update(more)
    elif mode == "fp16":
        model, extra = _fp16(model, exclude_nodes, exclude_op_types)
    else:
        extra = {}
    record.update(extra)
    return model, record


def _int8(
    source: Path, work: Path, per_channel: bool, exclude_nodes: Sequence[str], exclude_op_types: Sequence[str]
) -> tuple[Any, dict[str, Any]]:
    import onnx
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    op_types = [op for op in INT8_OP_TYPES if op not in set(exclude_op_types)]
    if not op_types:
        raise ExportError(f"excluding {', '.join(INT8_OP_TYPES)} leaves nothing to quantize; use quantize='none'")
    prepared, target = work / "prepared.onnx", work / "int8.onnx"
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
    prepared.unlink()
    model = onnx.load(str(target))
    target.unlink()
    del model.graph.value_info[:]  # the shapes inference stored; ONNX Runtime infers them again at load
    quantized = sum(1 for node in model.graph.node if node.op_type == "MatMulInteger")
    if quantized == 0:
        raise ExportError("int8 quantization changed no MatMul (all excluded?); use quantize='none' instead")
    return model, {
        "method": "dynamic",
        "per_channel": per_channel,
        "weight_type": INT8_WEIGHT_TYPE,
        "activation_type": INT8_ACTIVATION_TYPE,
        "op_types": op_types,
        "quantized_nodes": quantized,
    }


def _int4(model: Any, source: Path, work: Path) -> tuple[Any, dict[str, Any]]:
    """The int8 MODEL with its MatMul weights stored in 4 bits, requantized from the float graph at SOURCE."""
    import onnx

    from .int4 import store_int4

    path = work / "int4.onnx"  # store_int4 rewrites a file; the int8 graph is held once, as that file
    onnx.save(model, str(path))
    del model
    record = store_int4(source, path)
    model = onnx.load(str(path))
    path.unlink()
    return model, record


def _fp16(model: Any, exclude_nodes: Sequence[str], exclude_op_types: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = convert_float_to_float16(
        model,
        keep_io_types=True,
        op_block_list=sorted(set(DEFAULT_OP_BLOCK_LIST) | set(exclude_op_types)),
        node_block_list=list(exclude_nodes),
    )
    halves = sum(1 for tensor in model.graph.initializer if tensor.data_type == onnx.TensorProto.FLOAT16)
    return model, {"weight_type": "float16", "keep_io_types": True, "float16_initializers": halves}
