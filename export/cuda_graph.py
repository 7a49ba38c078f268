"""Graph rewrites for bundles made for ONNX Runtime's CUDA provider, and the check of where nodes ran.

wav2vec2's masked encoder zeroes padded frames through ``mask.unsqueeze(-1).repeat(1, 1, H)``,
exported as a Tile over a bool tensor. The CUDA provider has no bool Tile kernel (ONNX Runtime's
cuda/tensor/tile.cc registers float, double, int32, int64, float16 and bfloat16), so ONNX Runtime
runs it on the CPU and adds a device-to-host and a host-to-device copy around it (measured on an
H100: 14% of the kernel time of an fp16 xlsr-53 graph at 30 s). A Tile whose repeated axes all have
size 1 is an Expand to the repeats, which the CUDA provider runs for every fixed-size type
(cuda/tensor/expand.cc).

The placement check reads ONNX Runtime's profile (``SessionOptions.enable_profiling``): each node
event names its op, provider and output types and shapes. Shape arithmetic (small integer or bool tensors: the
Equal/Where around an Expand's target shape, for one)
is placed on the CPU by ONNX Runtime on purpose and costs no device copy of data; anything else on
the CPU, and every Memcpy node, is a fallback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from phonedge.errors import ExportError

MEMCPY_OPS = ("MemcpyToHost", "MemcpyFromHost")
SHAPE_TENSOR_LIMIT = 16  # elements: an integer or bool CPU output this small is shape arithmetic, not data
SHAPE_DTYPES = ("int64", "int32", "bool")
CUDA_PROVIDER = "CUDAExecutionProvider"


def tile_to_expand(model: Any) -> int:
    """Rewrite, in place, each Tile of MODEL whose repeated axes have size 1 as an Expand; return how many.

    The size-1 axes come from ONNX shape inference; a Tile where that cannot be proven stays.
    """
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    dims = {
        value.name: [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
        for value in list(inferred.graph.value_info) + list(inferred.graph.input)
    }
    constants = _int_constants(model)
    producers = {out: node for node in model.graph.node for out in node.output}
    rewritten = 0
    for node in model.graph.node:
        if node.op_type != "Tile":
            continue
        repeats = _repeat_values(node.input[1], producers, constants)
        if repeats is None:
            continue
        ones = _size_one_axes(node.input[0], len(repeats), dims, producers, constants)
        if all(r == 1 or axis in ones for axis, r in enumerate(repeats)):
            node.op_type = "Expand"
            rewritten += 1
    return rewritten


def _size_one_axes(
    name: str, rank: int, dims: dict[str, list[int | None]], producers: dict[str, Any], constants: dict[str, list[int]]
) -> set[int]:
    """Axes of tensor NAME (of RANK) known to have size 1: from shape inference, else through the
    Expand-to-ones and Unsqueeze that ``torch.Tensor.repeat`` exports in front of its Tile."""
    shape = dims.get(name)
    known = {axis for axis, size in enumerate(shape) if size == 1} if shape and len(shape) == rank else set()
    node = producers.get(name)
    if node is None:
        return known
    if node.op_type == "Expand":
        fill = producers.get(node.input[1])
        if fill is not None and fill.op_type == "ConstantOfShape" and _fill_value(fill) == 1:
            return known | _size_one_axes(node.input[0], rank, dims, producers, constants)
    elif node.op_type == "Unsqueeze" and len(node.input) > 1 and node.input[1] in constants:
        # Only axes counted from the end: they keep their place when the Expand prepends axes.
        return known | {axis % rank for axis in constants[node.input[1]] if axis < 0}
    return known


def _fill_value(node: Any) -> float | None:
    from onnx import numpy_helper

    for attr in node.attribute:
        if attr.name == "value":
            return float(numpy_helper.to_array(attr.t).ravel()[0])
    return 0.0  # ConstantOfShape's default


def _int_constants(model: Any) -> dict[str, list[int]]:
    """Integer values of the graph's initializers and Constant nodes, by output name."""
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init).ravel().tolist() for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t).ravel().tolist()
    return {name: v for name, v in values.items() if all(isinstance(x, int) for x in v)}


def _repeat_values(name: str, producers: dict[str, Any], constants: dict[str, list[int]]) -> list[int | None] | None:
    """The Tile repeats: constants where known, None for computed entries (a Concat of scalars)."""
    if name in constants:
        return list(constants[name])
    node = producers.get(name)
    if node is None or node.op_type != "Concat":
        return None
    values: list[int | None] = []
    for part in node.input:
        if part in constants:
            values.extend(constants[part])
        else:
            unsqueeze = producers.get(part)
            if unsqueeze is None or unsqueeze.op_type != "Unsqueeze":
                return None  # an entry of unknown length
            values.append(None)
    return values


def rewrite_for_cuda(model: Any) -> dict[str, Any]:
    """Apply the CUDA rewrites to the ModelProto MODEL (in place) and return the manifest's record of them."""
    return {"tile_to_expand": tile_to_expand(model)}


def placement_from_profile(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Which provider ran each node, from ONNX Runtime profile EVENTS (the JSON list it writes).

    Returns counts per provider, the Memcpy nodes, and the CPU nodes that are not shape
    arithmetic (the fallbacks), each as ``{"node", "op", "outputs"}``.
    """
    seen: dict[str, dict[str, Any]] = {}
    for event in events:
        args = event.get("args") or {}
        if event.get("cat") != "Node" or "provider" not in args:
            continue
        name = str(event.get("name", "")).removesuffix("_kernel_time")
        if name in seen:
            continue
        seen[name] = {"node": name, "op": args.get("op_name", ""), "provider": args["provider"],
                      "outputs": args.get("output_type_shape", [])}
    providers: dict[str, int] = {}
    for record in seen.values():
        providers[record["provider"]] = providers.get(record["provider"], 0) + 1
    memcpy = [_brief(r) for r in seen.values() if r["op"] in MEMCPY_OPS]
    fallbacks = [
        _brief(r)
        for r in seen.values()
        if r["provider"] != CUDA_PROVIDER and r["op"] not in MEMCPY_OPS and not _is_shape_arithmetic(r["outputs"])
    ]
    cpu_shape = sum(1 for r in seen.values() if r["provider"] != CUDA_PROVIDER and r["op"] not in MEMCPY_OPS) - len(
        fallbacks
    )
    return {
        "nodes": len(seen),
        "providers": providers,
        "memcpy": memcpy,
        "cpu_fallbacks": fallbacks,
        "cpu_shape_nodes": cpu_shape,
        "clean": not memcpy and not fallbacks,
    }


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    return {"node": record["node"], "op": record["op"], "provider": record["provider"], "outputs": record["outputs"]}


def _is_shape_arithmetic(outputs: list[dict[str, Any]]) -> bool:
    """Every output a small integer or bool tensor (ONNX Runtime writes ``{"int64": [dims]}`` per output)."""
    if not outputs:
        return False
    for output in outputs:
        if not isinstance(output, dict) or len(output) != 1:
            return False
        ((dtype, shape),) = output.items()
        size = 1
        for dim in shape:
            size *= int(dim)
        if dtype not in SHAPE_DTYPES or size > SHAPE_TENSOR_LIMIT:
            return False
    return True


def placement_from_profile_file(path: Path) -> dict[str, Any]:
    """:func:`placement_from_profile` of a profile file ONNX Runtime wrote."""
    try:
        events = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"cannot read the ONNX Runtime profile {path}: {exc}") from exc
    return placement_from_profile(events)


def profile_placement(model_path: Path, feeds: dict[str, Any], providers: list[str], work: Path) -> dict[str, Any]:
    """Run the graph at MODEL_PATH once on FEEDS with profiling on PROVIDERS; return its placement."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(work) / "placement")
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model_path), options, providers=providers)
    session.run(None, feeds)
    profile = session.end_profiling()
    return placement_from_profile_file(Path(profile))
