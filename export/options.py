"""Every choice of one export in one object, with its default, its allowed values and its help.

``export_bundle`` takes an :class:`ExportOptions`; ``phonedge export`` builds its click options from
the same fields (``export/cli.py``), so a default or a list of choices is written here only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Sequence

from phonedge.errors import ExportError

from .attention import ATTENTIONS
from .matmul_encoder import FEATURE_ENCODERS
from .parity import DEFAULT_FP32_ATOL, DEFAULT_MIN_FRAME_AGREEMENT
from .pos_conv import POS_CONVS
from .quantize import QUANTIZE_MODES, WEIGHT_QUANTIZED_MODES

TARGETS = ("cpu", "cuda")  # the provider a bundle is made for; "cpu" writes what phonedge always wrote


def option(default: Any, help: str, **cli: Any) -> Any:
    """A field of ExportOptions with what the command line needs to offer it (see export/cli.py).

    CLI keys: ``flag`` (the option's name when it is not the field's), ``choices``, ``min``/``max``
    (a number's range), ``multiple``/``metavar``, ``path`` (a file or folder), ``default_help``
    (said instead of a default that depends on the model).
    """
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class ExportOptions:
    """How to export: precision, graph forms, parity thresholds and the bundle's extras."""

    quantize: str = option("int8", "Precision: dynamic int8 MatMul weights, int8 MatMuls with 4-bit weight storage "
                           "(int4), float16, or float32 (none).",
                           choices=QUANTIZE_MODES)
    per_channel: bool = option(True, "int8 weight scales per output channel rather than per tensor.")
    exclude_nodes: Sequence[str] = option((), "Keep this ONNX node in float.", flag="exclude-node",
                                          multiple=True, metavar="NAME")
    exclude_op_types: Sequence[str] = option((), "Keep this op type in float.", flag="exclude-op-type",
                                             multiple=True, metavar="OP")
    with_attention_mask: Optional[bool] = option(
        None, "Graph input attention_mask.", flag="attention-mask",
        default_help="on for float (none) layer-norm models on the CPU target")
    feature_encoder: str = option(
        "matmul", "Conv feature encoder as MatMuls (int8 quantizes them; same float results) or as exported.",
        choices=FEATURE_ENCODERS)
    pos_conv: str = option(
        "conv2d", "Positional conv as a height-1 Conv2d (ONNX Runtime's faster CPU kernels; same float "
        "results) or as exported.", choices=POS_CONVS)
    encoder_piece_frames: Optional[int] = option(
        None, "Run the feature encoder over pieces of N frames inside the graph, bounding its memory; 0: one pass.",
        min=0, metavar="N", default_help="50 (1 s) for layer-norm models on the CPU target, else 0")
    smoothing: bool = option(
        True, "int8/int4: move LayerNorm outlier channels into the weights where that lowers the measured error.")
    mixed_precision: bool = option(
        True, "int8/int4: if the parity gate fails, keep the fewest most-affected MatMuls in float until it passes.")
    target: str = option(
        "cpu", "Provider the bundle is made for; cuda: fp16/none only, fused attention, one-pass encoder, "
        "no CPU-only nodes.", choices=TARGETS)
    attention: Optional[str] = option(
        None, "Attention as exported or as one fused MultiHeadAttention node per layer.", choices=ATTENTIONS,
        default_help="fused for --target cuda, else unfused")
    optimize: bool = option(False, "Apply ONNX Runtime's basic graph optimisations before quantizing.")
    calibration_audio: Optional[Path] = option(None, "Folder of audio for the parity check.", path=True,
                                               default_help="generated signals")
    labels: Optional[Path] = option(None, "TSV file of the model card's classes: label, name, transcript.", path=True)
    reject_calibration: Optional[Path] = option(
        None, "Eval list (path, transcript, label) of recordings to set the open-set threshold on; rows with an "
        "empty or 'none' label are none of the classes. Never the test split.", path=True,
        default_help="no calibration: the runtime's default threshold")
    reject_frr: float = option(0.01, "Share of the calibration's in-set recordings the threshold may reject.",
                               min=0.0, max=0.5)
    min_agreement: Optional[float] = option(
        None, "Minimum share of identical greedy transcripts (int8/fp16).", min=0.0, max=1.0,
        default_help="0.99 on calibration audio, not enforced on generated signals")
    min_frame_agreement: float = option(DEFAULT_MIN_FRAME_AGREEMENT,
                                        "Minimum share of frames with PyTorch's argmax class (int8/fp16).",
                                        min=0.0, max=1.0)
    fp32_atol: float = option(DEFAULT_FP32_ATOL, "Maximum absolute logit difference of a float32 graph.", min=0.0)
    gate: bool = option(True, "Refuse to write a bundle that misses a parity threshold (off: record only).",
                        flag="parity-gate")
    overwrite: bool = option(False, "Replace OUTPUT when it is an existing bundle (or an empty folder).")

    def validate(self) -> None:
        """Raise ExportError for a value outside its choices or range."""
        for item in fields(self):
            value, meta = getattr(self, item.name), item.metadata
            if "choices" in meta and value is not None and value not in meta["choices"]:
                raise ExportError(f"unknown {item.name}={value!r}; use one of {', '.join(meta['choices'])}")
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            low, high = meta.get("min"), meta.get("max")
            if not (low is None or value >= low) or not (high is None or value <= high):
                bounds = f"between {low} and {high}" if high is not None else f"{low} or more"
                raise ExportError(f"{item.name}={value} is impossible: it must be {bounds}")
        if self.reject_calibration is not None and self.labels is None:
            raise ExportError("--reject-calibration needs --labels: the threshold is calibrated on the class decision")
        if self.target == "cuda" and self.quantize in WEIGHT_QUANTIZED_MODES:
            raise ExportError(
                "target='cuda' takes quantize='fp16' or 'none': dynamic int8 (and int4, which runs int8 MatMuls) "
                "quantizes activations on the CPU at run time, which the CUDA provider does not run on the GPU"
            )

    @property
    def attention_form(self) -> str:
        """The attention form to export: as asked, else fused for the CUDA target and unfused for the CPU."""
        return self.attention or ("fused" if self.target == "cuda" else "unfused")
