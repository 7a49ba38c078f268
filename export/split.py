"""Cut a layer-norm model's graph in two: the conv feature encoder, and everything after it.

The runtime then runs the encoder over 1 s pieces of the waveform (phonedge.graph), which bounds
the memory of its large early activations. Only a layer-norm encoder computes each frame from its
own samples; a group-norm one normalises over the whole input and stays in one graph.
"""

from __future__ import annotations

from pathlib import Path

from phonedge.errors import ExportError

PROJECTION_NORM = "/wav2vec2/feature_projection/layer_norm/LayerNormalization"


def encoder_output(graph: Path) -> str:
    """Name of the tensor the feature projection reads: the encoder's frames (batch, frames, channels)."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    for node in model.graph.node:
        if node.name == PROJECTION_NORM:
            return str(node.input[0])
    raise ExportError(f"{graph}: no node {PROJECTION_NORM!r}, so the feature encoder cannot be split off")


def split_encoder(graph: Path, encoder_file: Path, inputs: list[str], output: str) -> list[str]:
    """Write the encoder (input_values -> frames) to ENCODER_FILE and leave the rest in GRAPH.

    Returns the rest's inputs: the frames, and the attention mask when INPUTS has one.
    """
    from onnx.utils import extract_model

    frames = encoder_output(graph)
    rest = [frames] + [name for name in inputs if name != "input_values"]
    _sort_nodes(graph)
    extract_model(str(graph), str(encoder_file), ["input_values"], [frames])
    tail = graph.with_name(graph.stem + ".rest.onnx")
    try:
        extract_model(str(graph), str(tail), rest, [output])
        tail.replace(graph)
    finally:
        tail.unlink(missing_ok=True)
    return rest


def _sort_nodes(graph: Path) -> None:
    """Put GRAPH's nodes in topological order (the float16 converter appends its input Casts last)."""
    import onnx

    model = onnx.load(str(graph))
    nodes = list(model.graph.node)
    ready = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    ordered, waiting = [], nodes
    while waiting:
        later = []
        for node in waiting:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                later.append(node)
        if len(later) == len(waiting):
            raise ExportError(f"{graph}: the graph has a cycle or an undefined input, it cannot be split")
        waiting = later
    if ordered != nodes:
        del model.graph.node[:]
        model.graph.node.extend(ordered)
        onnx.save(model, str(graph))
