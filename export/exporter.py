"""``export_bundle``: checkpoint -> ONNX -> reduced precision -> parity gate -> bundle folder."""

from __future__ import annotations

import logging
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from phonedge.checksum import files_sha256
from phonedge.errors import ExportError
from phonedge.manifest import GraphSpec, Manifest

from .bundle import MODEL_FILE, atomic_bundle, check_output_dir, write_manifest
from .calibration import generated_signals, load_calibration_audio
from .checkpoint import CTC_ARCHITECTURE, Checkpoint, load_model, read_checkpoint, resolve_model
from .deps import package_versions, require_export_extra
from .labels import read_labels
from .matmul_encoder import FEATURE_ENCODERS, quantize_before_stacking, use_matmul_encoder, waveform_matmuls
from .onnx_graph import OUTPUT, export_onnx, optimize_offline
from .piecewise import DEFAULT_PIECE_FRAMES, encoder_in_pieces
from .pos_conv import POS_CONVS, conv2d_pos_conv
from .parity import DEFAULT_FP32_ATOL, DEFAULT_MIN_FRAME_AGREEMENT, Gate, apply_gate, measure_parity
from .quantize import QUANTIZE_MODES, quantize_graph

Progress = Callable[[str], None]
ONNX_SIZE_LIMIT = 2**31 - 1  # protobuf's limit; bigger graphs need external data, which bundles do not carry
_NOISY_LOGGERS = ("transformers", "optimum", "onnxruntime", "torch.onnx")


def export_bundle(
    model: str | Path,
    out_dir: str | Path,
    *,
    quantize: str = "int8",
    per_channel: bool = True,
    exclude_nodes: Sequence[str] = (),
    exclude_op_types: Sequence[str] = (),
    with_attention_mask: bool | None = None,
    optimize: bool = False,
    calibration_audio: str | Path | None = None,
    labels: str | Path | None = None,
    overwrite: bool = False,
    min_agreement: float | None = None,
    min_frame_agreement: float = DEFAULT_MIN_FRAME_AGREEMENT,
    fp32_atol: float = DEFAULT_FP32_ATOL,
    gate: bool = True,
    feature_encoder: str = "matmul",
    pos_conv: str = "conv2d",
    encoder_piece_frames: int | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Export a Hugging Face wav2vec2 CTC checkpoint to a phonedge bundle folder and return its manifest.

    Args:
        model: a local checkpoint folder, or a Hugging Face Hub id (tried only when no such path exists).
        out_dir: the bundle folder to create; written atomically, never left half-written.
        quantize: "int8" (dynamic, MatMul weights), "fp16" or "none" (float32).
        per_channel: int8 weight scales per output channel rather than per tensor.
        exclude_nodes: ONNX node names to keep in float32.
        exclude_op_types: ONNX op types to keep in float32.
        with_attention_mask: give the graph an attention_mask input; None: for layer-norm models only.
        optimize: apply ONNX Runtime's basic graph optimisations offline before quantizing.
        calibration_audio: folder of audio files for the parity check; None: generated signals.
        labels: TSV file (label, name, transcript) of the model card's classes.
        overwrite: replace OUT_DIR when it is an existing bundle (or an empty folder).
        min_agreement: minimum share of inputs with identical greedy transcripts (int8/fp16);
            None: 0.99 on calibration audio, not enforced on generated signals.
        min_frame_agreement: minimum share of frames with the same argmax class (int8/fp16).
        fp32_atol: maximum absolute logit difference of a float32 ("none") graph.
        gate: refuse to write the bundle when a parity threshold is missed; False records only.
        feature_encoder: "matmul" (the conv feature encoder rewritten as MatMuls, which int8
            quantizes; same float results) or "conv" (the graph Optimum writes as it is).
        pos_conv: "conv2d" (the positional conv as a height-1 Conv2d, which ONNX Runtime's CPU
            provider runs in its blocked kernels; same float results) or "conv1d" (as written).
        encoder_piece_frames: run the conv feature encoder inside the graph over pieces of this
            many frames (an ONNX Loop), which bounds its memory; 0: in one pass; None: 50 (1 s)
            for layer-norm models, whose encoder computes each frame from its own samples, and
            0 for group-norm ones, which cannot run in pieces.
        progress: called with short step descriptions.

    Returns:
        The manifest written to OUT_DIR/phonedge.json.

    Raises:
        ExportError: bad checkpoint, output folder, option or calibration audio; failed parity gate.
        MissingExtraError: torch, transformers, optimum-onnx or onnx is not installed.
    """
    say = progress or (lambda _message: None)
    _check_options(quantize, min_agreement, min_frame_agreement, fp32_atol)
    if feature_encoder not in FEATURE_ENCODERS:
        raise ExportError(f"unknown feature_encoder={feature_encoder!r}; use one of {', '.join(FEATURE_ENCODERS)}")
    if pos_conv not in POS_CONVS:
        raise ExportError(f"unknown pos_conv={pos_conv!r}; use one of {', '.join(POS_CONVS)}")
    require_export_extra()
    local = Path(model).expanduser()
    check_output_dir(Path(out_dir), local if local.exists() else None, overwrite)  # before any download
    folder = resolve_model(model, say)
    target = check_output_dir(Path(out_dir), folder, overwrite)
    checkpoint = read_checkpoint(folder, str(model))
    masked = checkpoint.uses_layer_norm if with_attention_mask is None else bool(with_attention_mask)
    pieces = _piece_frames(encoder_piece_frames, checkpoint.uses_layer_norm, str(model))
    class_labels = read_labels(Path(labels)) if labels is not None else []
    audio = checkpoint.audio
    if calibration_audio is not None:
        inputs = load_calibration_audio(
            Path(calibration_audio), audio.sample_rate, audio.do_normalize, audio.receptive_field
        )
        inputs_kind = "calibration"
    else:
        inputs, inputs_kind = generated_signals(audio.sample_rate, audio.do_normalize), "generated"
    thresholds = Gate(fp32_atol, min_agreement, min_frame_agreement, gate)

    with _quiet_libraries(), atomic_bundle(target, overwrite) as staging:
        work = staging / "work"
        work.mkdir()
        say("loading the PyTorch model")
        torch_model = load_model(folder)
        say("exporting ONNX" + (" with attention_mask" if masked else ""))
        graph = work / "exported.onnx"
        # The rewritten modules are swapped in for the export only (no copy of the whole model:
        # xlsr-53 is 1.26 GB); parity is then measured against the restored original.
        with _export_forms(torch_model, feature_encoder, pos_conv):
            inputs_names = export_onnx(torch_model, graph, masked)
        external = [path for path in work.iterdir() if path != graph]
        if external or graph.stat().st_size > ONNX_SIZE_LIMIT:
            raise ExportError(f"{folder}: the float32 graph exceeds 2 GB; such models are not supported yet")
        if optimize:
            say("optimizing the graph (ONNX Runtime basic level)")
            optimize_offline(graph, work / "optimized.onnx")
            graph = work / "optimized.onnx"
        if feature_encoder == "matmul":
            exclude_nodes = tuple(exclude_nodes) + waveform_matmuls(graph)
        say(f"quantizing {quantize}" if quantize != "none" else "keeping float32 weights")
        model_path = staging / MODEL_FILE
        quantization = quantize_graph(
            graph,
            model_path,
            quantize,
            per_channel=per_channel,
            exclude_nodes=exclude_nodes,
            exclude_op_types=exclude_op_types,
            optimized=optimize,
        )
        quantization["feature_encoder"] = feature_encoder
        quantization["pos_conv"] = pos_conv
        quantization.update(
            _rewrite_graph(
                model_path,
                stack_uint8=feature_encoder == "matmul" and quantize == "int8",
                pieces=pieces,
                pieces_required=bool(encoder_piece_frames),
                frame_stride=audio.frame_stride,
                receptive_field=audio.receptive_field,
                channels=int(torch_model.config.conv_dim[-1]),
                say=say,
            )
        )
        shutil.rmtree(work)
        say(f"checking parity on {len(inputs)} {inputs_kind} inputs")
        figures = measure_parity(
            torch_model,
            model_path,
            inputs,
            tokenizer=checkpoint.tokenizer,
            with_mask=masked,
            inputs_kind=inputs_kind,
            padding_value=audio.padding_value,
        )
        parity, failures = apply_gate(figures, quantize, thresholds)
        if failures and gate:
            raise ExportError(
                f"parity gate failed for the {quantize} export of {model}: {'; '.join(failures)}; nothing was "
                "written (loosen the threshold, exclude sensitive nodes, try another --quantize, "
                "or record the figures with --no-parity-gate)"
            )
        if failures:
            say("parity gate off; recorded failures: " + "; ".join(failures))
        manifest = Manifest(
            audio=audio,
            tokenizer=checkpoint.tokenizer,
            graph=GraphSpec(
                file=MODEL_FILE,
                inputs=inputs_names,
                output=OUTPUT,
                quantization=quantization,
                sha256=files_sha256([model_path]),
                size_bytes=model_path.stat().st_size,
            ),
            labels=class_labels,
            source=_source(checkpoint, torch_model),
            versions=package_versions(),
            parity=parity,
        )
        say("writing the bundle")
        write_manifest(staging, manifest)
    return manifest


def _rewrite_graph(
    path: Path,
    *,
    stack_uint8: bool,
    pieces: int,
    pieces_required: bool,
    frame_stride: int,
    receptive_field: int,
    channels: int,
    say: Progress,
) -> dict[str, Any]:
    """The rewrites after quantization, on one in-memory copy of the graph at PATH (loaded and saved once).

    Returns the manifest's record of them: uint8-stacked encoder blocks (int8 MatMul encoders
    only) and the encoder's pieces (None when it runs in one pass).
    """
    import onnx

    record: dict[str, Any] = {"encoder_pieces": None}
    if not stack_uint8 and not pieces:
        return record
    model = onnx.load(str(path))
    if stack_uint8:
        record["uint8_stacked_blocks"] = quantize_before_stacking(model)
    if pieces:
        say(f"running the feature encoder in pieces of {pieces} frames")
        try:
            record["encoder_pieces"] = encoder_in_pieces(
                model, pieces, frame_stride, receptive_field, channels, where=str(path)
            )
        except ExportError:
            if pieces_required:  # asked for explicitly; by default such a graph stays as it is
                raise
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return record


def _piece_frames(requested: int | None, layer_norm: bool, model: str) -> int:
    """Frames per encoder piece: the request, or the default for this encoder's norm; 0 for none."""
    if requested is None:
        return DEFAULT_PIECE_FRAMES if layer_norm else 0
    if requested < 0:
        raise ExportError(f"encoder_piece_frames={requested} must be 0 (one pass) or positive")
    if requested and not layer_norm:
        raise ExportError(
            f"{model}: a group-norm feature encoder normalises over the whole input, so it cannot run in "
            "pieces; use encoder_piece_frames=0"
        )
    return requested


def _check_options(quantize: str, min_agreement: float | None, min_frame_agreement: float, fp32_atol: float) -> None:
    if quantize not in QUANTIZE_MODES:
        raise ExportError(f"unknown quantize={quantize!r}; use one of {', '.join(QUANTIZE_MODES)}")
    for name, value in (("min_agreement", min_agreement), ("min_frame_agreement", min_frame_agreement)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ExportError(f"{name}={value} is impossible: it is a share of inputs, between 0 and 1")
    if not fp32_atol >= 0.0:
        raise ExportError(f"fp32_atol={fp32_atol} must be zero or positive")


def _source(checkpoint: Checkpoint, torch_model: Any) -> dict[str, Any]:
    return {
        "model": checkpoint.source,
        "weights_sha256": checkpoint.weights_sha256,
        "model_type": checkpoint.model_type,
        "architecture": CTC_ARCHITECTURE,
        "num_parameters": int(torch_model.num_parameters()),
    }


@contextmanager
def _export_forms(model: Any, feature_encoder: str, pos_conv: str) -> Iterator[None]:
    """MODEL with the chosen export forms of its feature encoder and positional conv, restored after."""
    original_encoder = model.wav2vec2.feature_extractor
    if feature_encoder == "matmul":
        use_matmul_encoder(model)
    try:
        if pos_conv == "conv2d":
            with conv2d_pos_conv(model):
                yield
        else:
            yield
    finally:
        model.wav2vec2.feature_extractor = original_encoder


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Silence the exporters' tracer warnings and info chatter for the duration of one export."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
