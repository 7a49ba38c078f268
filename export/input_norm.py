"""The waveform normalisation of ``Wav2Vec2FeatureExtractor`` as nodes at the head of an ONNX graph.

For ``--target cuda`` bundles the per-utterance zero-mean/unit-variance normalisation (float32, the
variance plus 1e-7, as ``phonedge.features.normalize``) runs inside the graph, on the device, so a
call hands the raw waveform over and the runtime does no numpy pass over it. With an attention
mask the statistics cover each row's valid samples only and padded positions get the padding value,
which is what the extractor gives for a padded batch. The nodes are float32 and go in after the fp16
conversion, so the graph's fp16 part sees the same normalised input as before.

Every op here (Cast int64 -> float, ReduceMean, ReduceSum, Mul, Sub, Div, Sqrt, Add) has a float
CUDA kernel in ONNX Runtime, so none of them runs on the CPU.
"""

from __future__ import annotations

from typing import Any

from phonedge.errors import ExportError

from .onnx_graph import topological
from phonedge.features import VARIANCE_EPSILON

INPUT_VALUES = "input_values"
ATTENTION_MASK = "attention_mask"
PREFIX = "phonedge_norm/"


def normalize_in_graph(model: Any, padding_value: float = 0.0) -> None:
    """Prepend, in place, the normalisation of ``input_values`` to MODEL (masked when it takes a mask)."""
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    names = [value.name for value in graph.input]
    if INPUT_VALUES not in names:
        raise ExportError(f"the graph has no {INPUT_VALUES!r} input to normalise (inputs: {names})")
    masked = ATTENTION_MASK in names
    normed = PREFIX + "normalized_values"
    for reader in graph.node:
        for index, value in enumerate(reader.input):
            if value == INPUT_VALUES:
                reader.input[index] = normed
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    nodes: list[Any] = []
    inits: list[Any] = []

    def name(suffix: str) -> str:
        return PREFIX + suffix

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def const(suffix: str, value: float) -> str:
        inits.append(helper.make_tensor(name(suffix), TensorProto.FLOAT, [], [value]))
        return name(suffix)

    def reduce(op: str, x: str, output: str) -> str:
        # The axes moved from an attribute to an input: ReduceSum at opset 13, ReduceMean at 18.
        if opset >= (13 if op == "ReduceSum" else 18):
            if not any(init.name == name("axes") for init in inits):
                inits.append(helper.make_tensor(name("axes"), TensorProto.INT64, [1], [1]))
            return node(op, [x, name("axes")], output, keepdims=1)
        return node(op, [x], output, axes=[1], keepdims=1)

    eps = const("epsilon", VARIANCE_EPSILON)
    if masked:
        valid = node("Cast", [ATTENTION_MASK], name("valid"), to=TensorProto.FLOAT)
        count = reduce("ReduceSum", valid, name("count"))
        total = reduce("ReduceSum", node("Mul", [INPUT_VALUES, valid], name("masked")), name("total"))
        mean = node("Div", [total, count], name("mean"))
        centred = node("Mul", [node("Sub", [INPUT_VALUES, mean], name("diff")), valid], name("centred"))
        squares = reduce("ReduceSum", node("Mul", [centred, centred], name("square")), name("squares"))
        variance = node("Div", [squares, count], name("variance"))
    else:
        mean = reduce("ReduceMean", INPUT_VALUES, name("mean"))
        centred = node("Sub", [INPUT_VALUES, mean], name("centred"))
        variance = reduce("ReduceMean", node("Mul", [centred, centred], name("square")), name("variance"))
    scale = node("Sqrt", [node("Add", [variance, eps], name("variance_eps"))], name("std"))
    if masked and padding_value != 0.0:
        scaled = node("Div", [centred, scale], name("scaled"))
        padded = node("Sub", [const("one", 1.0), valid], name("padded"))
        fill = node("Mul", [padded, const("padding_value", float(padding_value))], name("fill"))
        node("Add", [scaled, fill], normed)
    else:
        node("Div", [centred, scale], normed)  # padded positions of CENTRED are already 0 = the padding value
    graph.initializer.extend(inits)
    known = {v.name for v in graph.input} | {i.name for i in graph.initializer}
    ordered, rest = topological(nodes + list(graph.node), known)
    ordered += rest  # they read names of an outer scope: keep their order
    del graph.node[:]
    graph.node.extend(ordered)
    onnx.checker.check_model(model)
