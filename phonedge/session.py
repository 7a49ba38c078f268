"""The ONNX Runtime session: provider choice, threads and graph optimisation, set per session only."""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .errors import ModelBundleError, ProviderError

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
OPT_LEVELS = ("disable", "basic", "extended", "all")


@dataclass(frozen=True)
class SessionConfig:
    """How to run the graph: provider, threads (0 = ONNX Runtime's default), optimisation, memory plan.

    memory_pattern off: ONNX Runtime then takes each activation from its arena as it is needed
    instead of reserving one block for a whole planned run; on the xlsr-53 int8 bundle that lowered
    the peak of a 10 s predict from 670 to 539 MiB with no measurable change in speed.
    """

    provider: str = "cpu"
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    graph_optimization: str = "all"
    memory_pattern: bool = False
    session_options: Mapping[str, Any] = field(default_factory=dict)
    provider_options: Mapping[str, Any] = field(default_factory=dict)


def _provider_chain(name: str, available: list[str]) -> list[str]:
    """Requested provider first, then the fallbacks ONNX Runtime should use for unsupported nodes."""
    key = name.lower()
    if key not in PROVIDERS:
        raise ProviderError(f"unknown provider {name!r}; choose one of {', '.join(PROVIDERS)}")
    wanted = PROVIDERS[key]
    if wanted not in available:
        hint = " (install phonedge[gpu], i.e. onnxruntime-gpu, and a CUDA driver)" if key != "cpu" else ""
        raise ProviderError(
            f"provider {key!r} ({wanted}) is not available in this onnxruntime; "
            f"available: {', '.join(available)}{hint}"
        )
    chain = [wanted]
    if key == "tensorrt" and PROVIDERS["cuda"] in available:
        chain.append(PROVIDERS["cuda"])
    if wanted != PROVIDERS["cpu"]:
        chain.append(PROVIDERS["cpu"])
    return chain


def create_session(model_path: Path, config: SessionConfig) -> Any:
    """Open an ``onnxruntime.InferenceSession`` for the bundle's graph."""
    import onnxruntime as ort

    if config.graph_optimization not in OPT_LEVELS:
        raise ProviderError(
            f"graph_optimization must be one of {', '.join(OPT_LEVELS)}, got {config.graph_optimization!r}"
        )
    if config.intra_op_threads < 0 or config.inter_op_threads < 0:
        raise ProviderError("thread counts must be >= 0 (0 lets ONNX Runtime choose)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.enable_mem_pattern = config.memory_pattern
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[config.graph_optimization]
    for name, value in config.session_options.items():
        if name.startswith("_") or not hasattr(options, name):
            raise ProviderError(f"onnxruntime.SessionOptions has no option {name!r}")
        try:
            setattr(options, name, value)
        except (TypeError, AttributeError) as exc:
            raise ProviderError(f"session option {name}={value!r} refused by ONNX Runtime: {exc}") from exc
    providers = _provider_chain(config.provider, ort.get_available_providers())
    # The options go to the requested provider; its fallbacks (CPU) keep their defaults.
    provider_options = [dict(config.provider_options)] + [{} for _ in providers[1:]]
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=providers,
                                       provider_options=provider_options)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        if config.provider_options:
            raise ProviderError(
                f"ONNX Runtime refused provider options {dict(config.provider_options)}: "
                f"{str(exc).strip().splitlines()[0][:300]}"
            ) from exc
        raise ModelBundleError(
            f"ONNX Runtime cannot load {model_path}: {str(exc).strip().splitlines()[0][:300]} "
            "(the file is corrupt or was written by an incompatible exporter; export the bundle again)"
        ) from exc
    release_freed_memory()
    return session


def graph_runner(session: Any, output: str, io_binding: bool | None = None) -> Callable[[dict[str, Any]], Any]:
    """A function running SESSION on feeds and returning OUTPUT as numpy.

    With IO binding (default: on the CUDA provider only) the inputs are copied to the device once
    each and the output is bound to host memory, so a call moves the waveform (and mask) in and the
    logits out and nothing else; otherwise it is a plain ``session.run``.
    """
    if io_binding is None:
        io_binding = session.get_providers()[0] == PROVIDERS["cuda"]
    if not io_binding:
        return lambda feeds: session.run([output], feeds)[0]

    def run(feeds: dict[str, Any]) -> Any:
        binding = session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        binding.bind_output(output, "cpu")
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    return run


def release_freed_memory() -> bool:
    """Hand heap pages freed by the session load back to the OS (glibc's malloc_trim); False elsewhere.

    ONNX Runtime parses the whole protobuf (342 MB for an xlsr-53 int8 bundle) and frees it once
    the weights are in place, but glibc keeps freed heap pages mapped: after loading that bundle
    the process held 662 MiB, and 397 MiB after the trim (benchmarks/README.md).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, for one, has no malloc_trim)
        return False
    trim(0)
    return True
