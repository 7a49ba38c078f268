"""The ``phonedge export`` command (attach it with ``main.add_command(export)``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from phonedge.errors import PhonedgeError

QUANTIZE_CHOICES = ("none", "int8", "int4", "fp16")  # kept in step with phonedge_export.quantize.QUANTIZE_MODES


@click.command("export")
@click.argument("model")
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="Bundle folder to create."
)
@click.option("--quantize", type=click.Choice(QUANTIZE_CHOICES), default="int8", show_default=True)
@click.option("--per-channel/--no-per-channel", default=True, show_default=True, help="int8 scales per output channel.")
@click.option("--exclude-node", "exclude_nodes", multiple=True, metavar="NAME", help="Keep this ONNX node in float.")
@click.option("--exclude-op-type", "exclude_op_types", multiple=True, metavar="OP", help="Keep this op type in float.")
@click.option(
    "--attention-mask/--no-attention-mask",
    "attention_mask",
    default=None,
    help="Graph input attention_mask [default: on for layer-norm models on the CPU target].",
)
@click.option(
    "--feature-encoder",
    type=click.Choice(["matmul", "conv"]),
    default="matmul",
    show_default=True,
    help="Conv feature encoder as MatMuls (int8 quantizes them; same float results) or as exported.",
)
@click.option(
    "--pos-conv",
    type=click.Choice(["conv2d", "conv1d"]),
    default="conv2d",
    show_default=True,
    help="Positional conv as a height-1 Conv2d (ONNX Runtime's faster CPU kernels; same float results) or as exported.",
)
@click.option(
    "--encoder-piece-frames",
    type=click.IntRange(min=0),
    default=None,
    help="Run the feature encoder over pieces of N frames inside the graph, bounding its memory; "
    "0: one pass [default: 50 (1 s) for layer-norm models, 0 for group-norm ones].",
)
@click.option(
    "--smoothing/--no-smoothing",
    default=True,
    show_default=True,
    help="int8/int4: move LayerNorm outlier channels into the weights where that lowers the measured error.",
)
@click.option(
    "--mixed-precision/--no-mixed-precision",
    default=True,
    show_default=True,
    help="int8/int4: if the parity gate fails, keep the fewest most-affected MatMuls in float until it passes.",
)
@click.option(
    "--target",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Provider the bundle is made for; cuda: fp16/none only, fused attention, one-pass encoder, no CPU-only nodes.",
)
@click.option(
    "--attention",
    type=click.Choice(["unfused", "fused"]),
    default=None,
    help="Attention as exported or as one fused MultiHeadAttention node per layer [default: fused for --target cuda].",
)
@click.option("--optimize/--no-optimize", default=False, show_default=True, help="ONNX Runtime basic optimisations.")
@click.option("--calibration-audio", type=click.Path(path_type=Path), help="Folder of audio for the parity check.")
@click.option("--labels", type=click.Path(path_type=Path), help="TSV file: label, name, transcript.")
@click.option(
    "--min-agreement",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Minimum share of identical greedy transcripts (int8/fp16) [default: 0.99 on calibration audio].",
)
@click.option(
    "--min-frame-agreement",
    type=click.FloatRange(0.0, 1.0),
    default=0.98,
    show_default=True,
    help="Minimum share of frames with PyTorch's argmax class (int8/fp16).",
)
@click.option(
    "--fp32-atol",
    type=click.FloatRange(min=0.0),
    default=1e-4,
    show_default=True,
    help="Maximum absolute logit difference of a float32 (--quantize none) graph.",
)
@click.option("--no-parity-gate", is_flag=True, help="Record the parity figures without refusing the export.")
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle folder.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON record instead of a summary line.")
def export(
    model: str,
    output: Path,
    quantize: str,
    per_channel: bool,
    exclude_nodes: tuple[str, ...],
    exclude_op_types: tuple[str, ...],
    attention_mask: bool | None,
    feature_encoder: str,
    pos_conv: str,
    encoder_piece_frames: int | None,
    smoothing: bool,
    mixed_precision: bool,
    target: str,
    attention: str | None,
    optimize: bool,
    calibration_audio: Path | None,
    labels: Path | None,
    min_agreement: float | None,
    min_frame_agreement: float,
    fp32_atol: float,
    no_parity_gate: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Export a Hugging Face wav2vec2 CTC checkpoint (folder or hub id) MODEL to a phonedge bundle."""
    try:
        from phonedge_export import export_bundle

        manifest = export_bundle(
            model,
            output,
            quantize=quantize,
            per_channel=per_channel,
            exclude_nodes=exclude_nodes,
            exclude_op_types=exclude_op_types,
            with_attention_mask=attention_mask,
            feature_encoder=feature_encoder,
            pos_conv=pos_conv,
            encoder_piece_frames=encoder_piece_frames,
            smoothing=smoothing,
            mixed_precision=mixed_precision,
            target=target,
            attention=attention,
            optimize=optimize,
            calibration_audio=calibration_audio,
            labels=labels,
            overwrite=overwrite,
            min_agreement=min_agreement,
            min_frame_agreement=min_frame_agreement,
            fp32_atol=fp32_atol,
            gate=not no_parity_gate,
            progress=lambda message: click.echo(f"{message} ...", err=True),
        )
    except PhonedgeError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    record = _record(output, manifest.to_dict())
    click.echo(json.dumps(record, indent=2) if as_json else _summary(record))


def _record(output: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    graph, parity = manifest["graph"], manifest["parity"]
    return {
        "bundle": str(output),
        "quantization": graph["quantization"]["mode"],
        "inputs": graph["inputs"],
        "size_bytes": graph["size_bytes"],
        "sha256": graph["sha256"],
        "parity": parity,
    }


def _summary(record: dict[str, Any]) -> str:
    parity = record["parity"]
    verdict = "passed" if parity["passed"] else "FAILED (not gated)"
    return (
        f"wrote {record['bundle']}: {record['quantization']}, {record['size_bytes'] / 1e6:.1f} MB, "
        f"inputs {'+'.join(record['inputs'])}; parity {verdict} on {parity['n_inputs']} {parity['inputs']} inputs: "
        f"max |dlogit| {parity['max_abs_logit_diff']:.2g}, frames {parity['frame_argmax_agreement']:.2%}, "
        f"transcripts {parity['transcript_agreement']:.0%}"
    )
