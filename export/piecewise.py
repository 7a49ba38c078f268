"""Run a layer-norm model's conv feature encoder over pieces of the waveform, inside the graph.

The encoder's first layers hold the model's largest activations: 32,000 x 512 float32 values
(62.5 MiB a tensor) per 10 s of audio, several alive at once. A layer-norm encoder computes each
20 ms frame from its own 400 samples, so it can run over pieces cut on the 320-sample frame grid
with the receptive field's overlap, and the joined frames are those of one pass. This rewrite puts
the encoder's nodes in the body of an ONNX ``Loop``: iteration i slices samples
[i*F*stride, i*F*stride + (F-1)*stride + field) and appends that piece's F frames. ONNX Runtime
frees each iteration's activations before the next, so their peak is that of F frames whatever the
input's length; one graph and one session stay, so nothing changes for the runtime. With dynamic
int8, each piece gets its own activation scales. Measured on the xlsr-53 int8 graph (2 threads):
peak RSS for 10 s of audio 619 -> 456 MiB, for 20 s 819 -> 604 MiB, latency unchanged.

A group-norm encoder (wav2vec2-base) normalises over the whole input and cannot run in pieces.
"""

from __future__ import annotations

from typing import Any

from phonedge.errors import ExportError

from .onnx_graph import topological

PROJECTION_NORM = "/wav2vec2/feature_projection/layer_norm/LayerNormalization"
INPUT_VALUES = "input_values"
PIECE = "/wav2vec2/feature_extractor/Loop/piece"
FRAMES = "/wav2vec2/feature_extractor/Loop_output_0"
DEFAULT_PIECE_FRAMES = 50  # 1 s of 20 ms frames


def encoder_in_pieces(
    model: Any, piece_frames: int, frame_stride: int, receptive_field: int, channels: int, where: str = "graph"
) -> dict[str, Any]:
    """Rewrite the ModelProto MODEL in place so its feature encoder runs over PIECE_FRAMES frames at a time.

    CHANNELS is the frames' width (the last conv's output channels); WHERE names the graph in
    errors. Returns the manifest's record. Raises ExportError, leaving MODEL as it was, when the
    graph has no recognisable encoder boundary or the encoder shares values with the rest.
    """
    if piece_frames < 1:
        raise ExportError(f"encoder pieces must hold at least one frame, got {piece_frames}")
    nodes = _topological(list(model.graph.node), model.graph, where)
    frames = _encoder_output(nodes, where)
    needed = _encoder_nodes(nodes, frames)
    encoder = [n for n in nodes if id(n) in needed]
    rest = [n for n in nodes if id(n) not in needed]
    produced = {out for n in encoder for out in n.output}
    shared = sorted({name for n in rest for name in n.input if name in produced and name != frames})
    if shared:
        raise ExportError(f"{where}: the feature encoder shares {shared[:3]} with the rest of the model")
    loop_nodes, constants = _loop(encoder, frames, piece_frames, frame_stride, receptive_field, channels,
                                  _frames_type(model, encoder, frames))
    kept = [_renamed(node, frames, FRAMES) for node in rest]
    model.graph.ClearField("node")
    model.graph.node.extend(loop_nodes + kept)
    model.graph.initializer.extend(constants)
    return {"frames": piece_frames, "samples": (piece_frames - 1) * frame_stride + receptive_field,
            "hop_samples": piece_frames * frame_stride}


def _renamed(node: Any, old: str, new: str) -> Any:
    """A copy of NODE reading NEW wherever it read OLD."""
    import onnx

    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    copy.input[:] = [new if name == old else name for name in copy.input]
    return copy


def _encoder_output(nodes: list[Any], where: str) -> str:
    for node in nodes:
        if node.name == PROJECTION_NORM:
            return str(node.input[0])
    raise ExportError(f"{where}: no node {PROJECTION_NORM!r}, so the feature encoder's output is unknown")


def _encoder_nodes(nodes: list[Any], frames: str) -> set[int]:
    """ids of the nodes FRAMES depends on (all of them read, in the end, only the waveform)."""
    producer = {out: node for node in nodes for out in node.output}
    needed: set[int] = set()
    stack = [frames]
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(node.input)
    return needed


def _topological(nodes: list[Any], graph_proto: Any, where: str) -> list[Any]:
    """NODES in an order where every input is defined first."""
    known = {i.name for i in graph_proto.input} | {t.name for t in graph_proto.initializer}
    ordered, rest = topological(nodes, known)
    if rest:
        raise ExportError(f"{where}: the graph has a cycle or an undefined input")
    return ordered


def _loop(
    encoder: list[Any], frames: str, piece_frames: int, stride: int, field: int, channels: int, frames_type: int
) -> tuple[list[Any], list[Any]]:
    """The outer nodes (piece count, empty start, Loop) and their constants."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    prefix = "/wav2vec2/feature_extractor/Loop/"

    def const(name: str, value: Any, dtype: Any = np.int64) -> Any:
        return numpy_helper.from_array(np.array(value, dtype=dtype), prefix + name)

    body_constants = [const("hop", [piece_frames * stride]), const("span", [(piece_frames - 1) * stride + field]),
                      const("time_axis", [1]), const("scalar_axis", [0])]
    body_nodes = [
        helper.make_node("Unsqueeze", ["iteration", prefix + "scalar_axis"], [prefix + "index"]),
        helper.make_node("Mul", [prefix + "index", prefix + "hop"], [prefix + "start"]),
        helper.make_node("Add", [prefix + "start", prefix + "span"], [prefix + "stop"]),
        # Slice clamps the last piece's stop to the input's end.
        helper.make_node("Slice", [INPUT_VALUES, prefix + "start", prefix + "stop", prefix + "time_axis"], [PIECE]),
    ]
    body_nodes += [_renamed(node, INPUT_VALUES, PIECE) for node in encoder]
    body_nodes += [
        helper.make_node("Concat", ["frames_in", frames], ["frames_out"], axis=1),
        helper.make_node("Identity", ["condition_in"], ["condition_out"]),
    ]
    body = helper.make_graph(
        body_nodes,
        "feature_encoder_piece",
        [helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
         helper.make_tensor_value_info("condition_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("frames_in", frames_type, None)],
        [helper.make_tensor_value_info("condition_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("frames_out", frames_type, None)],
        body_constants,
    )
    outer_constants = [const("field", [field]), const("stride", [stride]), const("one", [1]),
                       const("piece_frames", [piece_frames]), const("piece_less_one", [piece_frames - 1]),
                       const("batch_axis", [0]), const("empty_tail", [0, channels]),
                       numpy_helper.from_array(np.array(True), prefix + "true")]
    p = prefix
    outer = [
        helper.make_node("Shape", [INPUT_VALUES], [p + "shape"]),
        helper.make_node("Gather", [p + "shape", p + "batch_axis"], [p + "batch"]),
        helper.make_node("Gather", [p + "shape", p + "one"], [p + "samples"]),
        # frames = (samples - field) // stride + 1; pieces = ceil(frames / piece)
        helper.make_node("Sub", [p + "samples", p + "field"], [p + "past_field"]),
        helper.make_node("Div", [p + "past_field", p + "stride"], [p + "steps"]),
        helper.make_node("Add", [p + "steps", p + "one"], [p + "frames"]),
        helper.make_node("Add", [p + "frames", p + "piece_less_one"], [p + "rounded"]),
        helper.make_node("Div", [p + "rounded", p + "piece_frames"], [p + "pieces_1d"]),
        helper.make_node("Squeeze", [p + "pieces_1d"], [p + "pieces"]),
        helper.make_node("Concat", [p + "batch", p + "empty_tail"], [p + "empty_shape"], axis=0),
        helper.make_node("ConstantOfShape", [p + "empty_shape"], [p + "empty"],
                         value=helper.make_tensor("zero", frames_type, [1], [0.0])),
        helper.make_node("Loop", [p + "pieces", p + "true", p + "empty"], [FRAMES], body=body,
                         name="/wav2vec2/feature_extractor/Loop"),
    ]
    return outer, outer_constants


def _frames_type(model: Any, encoder: list[Any], frames: str) -> int:
    """Element type of the encoder's frames (float32, or float16 in a float16 graph), by ONNX inference."""
    import onnx
    from onnx import TensorProto, helper

    used = {name for node in encoder for name in node.input}
    inputs = [i for i in model.graph.input if i.name in used]
    weights = [t for t in model.graph.initializer if t.name in used]
    # frames as an intermediate value (graph outputs keep the type they are declared with)
    probe_nodes = list(encoder) + [helper.make_node("Identity", [frames], [frames + "/probe"])]
    probe = helper.make_model(
        helper.make_graph(probe_nodes, "encoder", inputs, [helper.make_empty_tensor_value_info(frames + "/probe")],
                          weights),
        opset_imports=model.opset_import,
    )
    inferred = onnx.shape_inference.infer_shapes(probe)
    for value in inferred.graph.value_info:
        if value.name == frames and value.type.tensor_type.elem_type:
            return int(value.type.tensor_type.elem_type)
    return TensorProto.FLOAT
