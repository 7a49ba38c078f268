"""``export_bundle``: a checkpoint through named stages over one in-memory ONNX graph into a bundle folder.

Before any work, the options, the checkpoint, the output folder, the labels and the parity inputs
are checked (``_prepare``). Then each stage of ``STAGES`` runs in order on one :class:`ExportJob`
inside the bundle's staging folder: the ONNX graph is parsed once after the export and stays in
memory (``job.graph``) until it is saved, so a stage that rewrites it is a function of the job,
added to ``STAGES`` where it belongs. int8 and int4 quantize from the saved float graph, once per
try of ``quantize_until_parity`` (mixed precision retries with more MatMuls in float).
"""

from __future__ import annotations

import logging
import shutil
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from phonedge.checksum import files_sha256
from phonedge.errors import ExportError
from phonedge.evaluate import EvalItem
from phonedge.manifest import AudioSpec, ClassLabel, GraphSpec, Manifest

from .attention import fused_attention
from .bundle import MODEL_FILE, atomic_bundle, check_output_dir, write_manifest
from .calibration import generated_signals, load_calibration_audio
from .checkpoint import CTC_ARCHITECTURE, Checkpoint, load_model, read_checkpoint, resolve_model
from .cuda_graph import rewrite_for_cuda
from .deps import package_versions, require_export_extra
from .input_norm import normalize_in_graph
from .labels import read_labels
from .matmul_encoder import quantize_before_stacking, use_matmul_encoder, waveform_matmuls
from .mixed_precision import Attempt, fewest_float
from .onnx_graph import OUTPUT, export_onnx, optimize_offline
from .options import ExportOptions
from .parity import Gate, apply_gate, measure_parity, torch_logits
from .piecewise import DEFAULT_PIECE_FRAMES, encoder_in_pieces
from .pos_conv import conv2d_pos_conv
from .quantize import WEIGHT_QUANTIZED_MODES, check_excluded_nodes, quantize_graph
from .rejection import calibrate, read_calibration
from .smoothquant import Analysis, analyse, migrated

Progress = Callable[[str], None]
ONNX_SIZE_LIMIT = 2**31 - 1  # protobuf's limit; bigger graphs need external data, which bundles do not carry
_NOISY_LOGGERS = ("transformers", "optimum", "onnxruntime", "torch.onnx")


@dataclass
class ExportJob:
    """What the stages share: the checked inputs, and what each stage leaves for the next."""

    options: ExportOptions
    source: str  # the model as the user named it (a folder or a hub id)
    checkpoint: Checkpoint
    audio: AudioSpec  # the checkpoint's, until a stage moves the input normalisation into the graph
    attention: str  # the attention form exported ("unfused" or "fused")
    staging: Path  # the bundle folder being built; published only when every stage has passed
    say: Progress
    masked: bool  # the graph takes an attention mask
    pieces: int  # encoder piece frames; 0: one pass
    labels: list[ClassLabel]
    inputs: list[NDArray[np.float32]]  # the parity check's inputs
    inputs_kind: str  # "calibration" or "generated"
    torch_model: Any = None
    analysis: Analysis | None = None  # int8/int4: the measured quantization errors (export/smoothquant.py)
    input_names: list[str] = field(default_factory=list)
    graph: Any = None  # the onnx.ModelProto being built
    graph_file: Path | None = None  # a file holding ``graph`` as it is (ONNX Runtime's tools read files); None: stale
    target_record: dict[str, Any] = field(default_factory=dict)  # the target's rewrites, for the manifest
    quantization: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    manifest: Manifest | None = None
    reject_items: list[EvalItem] = field(default_factory=list)  # rows to calibrate the open-set threshold on

    @property
    def work(self) -> Path:
        """Scratch folder inside the staging folder, removed once the graph is saved."""
        return self.staging / "work"

    @property
    def model_path(self) -> Path:
        """Where the bundle's graph is saved."""
        return self.staging / MODEL_FILE

    def graph_path(self) -> Path:
        """A file holding ``graph`` as it is now, written to the scratch folder when a rewrite changed it."""
        if self.graph_file is None:
            import onnx

            self.graph_file = self.work / "rewritten.onnx"
            onnx.save(self.graph, str(self.graph_file))
        return self.graph_file


def export_bundle(
    model: str | Path,
    out_dir: str | Path,
    options: ExportOptions | None = None,
    *,
    progress: Progress | None = None,
    **changes: Any,
) -> Manifest:
    """Export a Hugging Face wav2vec2 CTC checkpoint to a phonedge bundle folder and return its manifest.

    Args:
        model: a local checkpoint folder, or a Hugging Face Hub id (tried only when no such path exists).
        out_dir: the bundle folder to create; written atomically, never left half-written.
        options: how to export (:class:`ExportOptions`; its fields document every choice).
        progress: called with short step descriptions.
        changes: fields of ExportOptions to change, e.g. ``quantize="fp16"``.

    Returns:
        The manifest written to OUT_DIR/phonedge.json.

    Raises:
        ExportError: bad checkpoint, output folder, option or calibration audio; failed parity gate.
        MissingExtraError: torch, transformers, optimum-onnx or onnx is not installed.
    """
    opts = replace(options or ExportOptions(), **changes)
    opts.validate()
    say = progress or (lambda _message: None)
    require_export_extra()
    target, job = _prepare(model, Path(out_dir), opts, say)
    with _quiet_libraries(), atomic_bundle(target, opts.overwrite) as staging:
        job.staging = staging
        job.work.mkdir()
        for stage in STAGES:
            stage(job)
    assert job.manifest is not None  # the last stage writes it
    return job.manifest


def _prepare(model: str | Path, out_dir: Path, opts: ExportOptions, say: Progress) -> tuple[Path, ExportJob]:
    """Check everything that can fail before any work; return the output folder and the job."""
    local = Path(model).expanduser()
    check_output_dir(out_dir, local if local.exists() else None, opts.overwrite)  # before any download
    folder = resolve_model(model, say)
    target = check_output_dir(out_dir, folder, opts.overwrite)
    checkpoint = read_checkpoint(folder, str(model))
    audio = checkpoint.audio
    layer_norm = checkpoint.uses_layer_norm
    if opts.calibration_audio is not None:
        inputs = load_calibration_audio(
            Path(opts.calibration_audio), audio.sample_rate, audio.do_normalize, audio.receptive_field
        )
        inputs_kind = "calibration"
    else:
        inputs, inputs_kind = generated_signals(audio.sample_rate, audio.do_normalize), "generated"
    labels = read_labels(Path(opts.labels)) if opts.labels is not None else []
    reject_items = read_calibration(Path(opts.reject_calibration), labels) if opts.reject_calibration else []
    job = ExportJob(
        options=opts,
        source=str(model),
        checkpoint=checkpoint,
        audio=audio,
        attention=opts.attention_form,
        staging=target,
        say=say,
        masked=(_default_mask(opts.target, layer_norm, opts.quantize) if opts.with_attention_mask is None
                else opts.with_attention_mask),
        pieces=_piece_frames(
            0 if opts.target == "cuda" and opts.encoder_piece_frames is None else opts.encoder_piece_frames,
            layer_norm,
            str(model),
        ),
        labels=labels,
        inputs=inputs,
        inputs_kind=inputs_kind,
        reject_items=reject_items,
    )
    return target, job


# -- the stages, in order ----------------------------------------------------------------------


def load_torch_model(job: ExportJob) -> None:
    """The PyTorch model, the source of the graph and the reference of the parity check."""
    job.say("loading the PyTorch model")
    job.torch_model = load_model(job.checkpoint.folder)


def analyse_outliers(job: ExportJob) -> None:
    """int8/int4: the quantization error of each MatMul and LayerNorm outlier site on the parity inputs, for
    smoothing and mixed precision (export/smoothquant.py)."""
    opts = job.options
    if opts.quantize in WEIGHT_QUANTIZED_MODES and (opts.smoothing or (opts.mixed_precision and opts.gate)):
        job.say(f"measuring {opts.quantize} errors on {job.inputs_kind} audio")
        job.analysis = analyse(
            job.torch_model, job.inputs, opts.quantize, job.audio.sample_rate, smoothing=opts.smoothing
        )


def export_graph(job: ExportJob) -> None:
    """The float32 ONNX graph through Optimum, in the chosen export forms; parsed once."""
    import onnx

    opts = job.options
    job.say("exporting ONNX" + (" with attention_mask" if job.masked else ""))
    path = job.work / "exported.onnx"
    # The rewritten modules are swapped in for the export only (no copy of the whole model:
    # xlsr-53 is 1.26 GB); parity is then measured against the restored original.
    with migrated(job.torch_model, job.analysis), _export_forms(
        job.torch_model, opts.feature_encoder, opts.pos_conv, job.attention
    ):
        job.input_names = export_onnx(job.torch_model, path, job.masked)
    external = [item for item in job.work.iterdir() if item != path]
    if external or path.stat().st_size > ONNX_SIZE_LIMIT:
        raise ExportError(f"{job.checkpoint.folder}: the float32 graph exceeds 2 GB; such models are not supported yet")
    job.graph_file = path
    job.graph = onnx.load(str(path))


def rewrite_for_target(job: ExportJob) -> None:
    """CUDA bundles: the rewrites ONNX Runtime's CUDA provider needs (export/cuda_graph.py)."""
    if job.options.target == "cuda":
        job.say("rewriting the graph for the CUDA provider")
        job.target_record = {"target": job.options.target, "attention": job.attention, **rewrite_for_cuda(job.graph)}
        job.graph_file = None
    elif job.attention != "unfused":
        job.target_record = {"attention": job.attention}


def optimize_graph(job: ExportJob) -> None:
    """ONNX Runtime's basic (portable, standard-op) graph optimisations, on request."""
    import onnx

    if not job.options.optimize:
        return
    job.say("optimizing the graph (ONNX Runtime basic level)")
    path = job.work / "optimized.onnx"
    optimize_offline(job.graph_path(), path)
    job.graph, job.graph_file = onnx.load(str(path)), path


def quantize_until_parity(job: ExportJob) -> None:
    """Quantize, rewrite, save and check parity; with mixed precision, again with the MatMuls of the largest
    measured error kept in float until the gate passes (export/mixed_precision.py). A missed threshold
    refuses the export unless the gate is off."""
    opts = job.options
    check_excluded_nodes(job.graph, opts.exclude_nodes)
    exclude = tuple(opts.exclude_nodes)
    if opts.feature_encoder == "matmul":
        exclude += waveform_matmuls(job.graph)
    present = {node.name for node in job.graph.graph.node} - set(exclude)
    # int8/int4 quantize from the saved float graph on every try: it is let go here, so it is never held
    # twice (xlsr-53: 1.26 GB) and a retry needs no copy of it. float16 and float32 make one try only.
    source = job.graph_path()
    float_graph = None if opts.quantize in WEIGHT_QUANTIZED_MODES else job.graph
    job.graph = None
    audio = job.audio
    gate = Gate(opts.fp32_atol, opts.min_agreement, opts.min_frame_agreement, opts.gate)
    reference = torch_logits(job.torch_model, job.inputs, job.masked)  # PyTorch's logits, once for all tries

    def attempt(float_nodes: Sequence[str]) -> Attempt:
        job.audio = audio
        _reduce_precision(job, float_graph, source, exclude + tuple(float_nodes))
        _rewrite_graph(job)
        _save_graph(job)
        parity, failures = _check_parity(job, reference, gate)
        return Attempt(tuple(float_nodes), job.quantization, parity, failures)

    ranking = job.analysis.ranking() if job.analysis is not None and opts.mixed_precision and opts.gate else []
    ranking = [name for name in ranking if name in present]
    chosen, attempts = fewest_float(attempt, ranking, say=job.say)
    shutil.rmtree(job.work)
    job.quantization, job.parity = chosen.quantization, chosen.parity
    job.audio = replace(audio, normalized_in_graph=True) if "input_normalization" in job.quantization else audio
    if job.analysis is not None:
        job.quantization["outliers"] = _outlier_record(job.analysis, chosen, attempts, opts.smoothing)
    if chosen.failures and opts.gate:
        tried = _remedies(job.analysis, attempts, opts.smoothing)
        raise ExportError(
            f"parity gate failed for the {opts.quantize} export of {job.source}{tried}: {'; '.join(chosen.failures)}; "
            "nothing was written (loosen the threshold, exclude sensitive nodes, try another --quantize, "
            "or record the figures with --no-parity-gate)"
        )
    if chosen.failures:
        job.say("parity gate off; recorded failures: " + "; ".join(chosen.failures))


def _reduce_precision(job: ExportJob, float_graph: Any, source: Path, exclude: tuple[str, ...]) -> None:
    """int8, int4, float16 or float32 weights, from FLOAT_GRAPH in memory or (int8/int4) the file SOURCE."""
    opts = job.options
    job.say(f"quantizing {opts.quantize}" if opts.quantize != "none" else "keeping float32 weights")
    job.graph, job.quantization = quantize_graph(
        float_graph,
        source,
        job.work,
        opts.quantize,
        per_channel=opts.per_channel,
        exclude_nodes=exclude,
        exclude_op_types=opts.exclude_op_types,
        optimized=opts.optimize,
    )
    job.graph_file = None
    job.quantization.update(feature_encoder=opts.feature_encoder, pos_conv=opts.pos_conv, **job.target_record)


def _rewrite_graph(job: ExportJob) -> None:
    """uint8 activations ahead of frame stacking (int8/int4 MatMul encoders); the feature encoder in pieces; for
    CUDA bundles, the input normalisation inside the graph."""
    opts, audio = job.options, job.audio
    job.quantization["encoder_pieces"] = None
    if opts.feature_encoder == "matmul" and opts.quantize in WEIGHT_QUANTIZED_MODES:
        job.quantization["uint8_stacked_blocks"] = quantize_before_stacking(job.graph)
    if job.pieces:
        job.say(f"running the feature encoder in pieces of {job.pieces} frames")
        channels = int(job.torch_model.config.conv_dim[-1])
        try:
            job.quantization["encoder_pieces"] = encoder_in_pieces(
                job.graph, job.pieces, audio.frame_stride, audio.receptive_field, channels, where=str(job.model_path)
            )
        except ExportError:
            if opts.encoder_piece_frames:  # asked for explicitly; by default such a graph stays as it is
                raise
    if opts.target == "cuda" and audio.do_normalize:
        job.say("normalising the waveform inside the graph")
        normalize_in_graph(job.graph, audio.padding_value)
        job.quantization["input_normalization"] = "graph"
        job.audio = replace(audio, normalized_in_graph=True)
    job.graph_file = None


def _save_graph(job: ExportJob) -> None:
    """Check the graph and write it to the bundle, where the parity check reads it."""
    import onnx

    onnx.checker.check_model(job.graph)
    onnx.save(job.graph, str(job.model_path))
    job.graph, job.graph_file = None, job.model_path


def _check_parity(
    job: ExportJob, reference: Sequence[NDArray[np.float32]], gate: Gate
) -> tuple[dict[str, Any], list[str]]:
    """The saved graph against PyTorch's logits REFERENCE on the parity inputs: its figures and missed thresholds."""
    job.say(f"checking parity on {len(job.inputs)} {job.inputs_kind} inputs")
    figures = measure_parity(
        job.torch_model,
        job.model_path,
        job.inputs,
        tokenizer=job.checkpoint.tokenizer,
        with_mask=job.masked,
        inputs_kind=job.inputs_kind,
        padding_value=job.audio.padding_value,
        reference=reference,
    )
    return apply_gate(figures, job.options.quantize, gate)


def _outlier_record(analysis: Analysis, chosen: Attempt, attempts: list[Attempt], smoothing: bool) -> dict[str, Any]:
    """The manifest's account of the outlier handling: smoothing, float MatMuls, the attempts made."""
    return {
        "smoothing": analysis.record() if smoothing else None,
        "float_matmuls": list(chosen.float_nodes),
        "attempts": [a.summary() for a in attempts],
    }


def _remedies(analysis: Analysis | None, attempts: list[Attempt], smoothing: bool) -> str:
    """What was tried before giving up, for the gate's error message."""
    if analysis is None:
        return ""
    parts = []
    if smoothing:
        parts.append(f"outlier smoothing at {sum(1 for site in analysis.sites if site['migrated'])} LayerNorm(s)")
    most = max(len(a.float_nodes) for a in attempts)
    if most:
        parts.append(f"up to {most} of {len(analysis.linear_errors)} MatMuls kept in float")
    return " (even with " + " and ".join(parts) + ")" if parts else ""


def write_bundle_manifest(job: ExportJob) -> None:
    """The manifest, last: a staging folder without one is never published."""
    job.manifest = Manifest(
        audio=job.audio,
        tokenizer=job.checkpoint.tokenizer,
        graph=GraphSpec(
            file=MODEL_FILE,
            inputs=job.input_names,
            output=OUTPUT,
            quantization=job.quantization,
            sha256=files_sha256([job.model_path]),
            size_bytes=job.model_path.stat().st_size,
        ),
        labels=job.labels,
        source=_source(job.checkpoint, job.torch_model),
        versions=package_versions(),
        parity=job.parity,
    )
    job.say("writing the bundle")
    write_manifest(job.staging, job.manifest)


def calibrate_rejection(job: ExportJob) -> None:
    """With --reject-calibration: score its rows with the written bundle and store the open-set threshold."""
    if not job.reject_items or job.manifest is None:
        return
    opts = job.options
    job.say(f"calibrating the open-set threshold on {len(job.reject_items)} recordings ...")
    decision = calibrate(job.staging, job.reject_items, opts.reject_frr, Path(str(opts.reject_calibration)).name)
    job.manifest = replace(job.manifest, decision=decision)
    write_manifest(job.staging, job.manifest)


STAGES: list[Callable[[ExportJob], None]] = [
    load_torch_model,
    analyse_outliers,
    export_graph,
    rewrite_for_target,
    optimize_graph,
    quantize_until_parity,
    write_bundle_manifest,
    calibrate_rejection,
]


def _default_mask(target: str, layer_norm: bool, quantize: str) -> bool:
    """Whether the graph takes an attention mask unless told: float layer-norm models on the CPU only.

    Dynamic int8 (and int4, which runs int8 MatMuls) takes one activation scale per batch, so the
    runtime runs such bundles one item per call (phonedge/batch_policy.py): a mask would only cost
    time (its Where/Slice/Add in every layer: 2-7% of the xlsr-53 int8 latency at 1-10 s on an
    AMD EPYC, 2 threads) and never mask anything.

    On CUDA, ONNX Runtime's MultiHeadAttention runs flash attention only without a key padding
    mask (contrib_ops/cuda/bert/multihead_attention.cc); measured on an H100 (fp16 xlsr-53, raw
    session) the unmasked graph took 7.4 ms at 30 s and 26.0 ms on 16 x 10 s against 11.6 and
    32.3 masked. Without a mask the runtime batches equal lengths only.
    """
    return layer_norm and target != "cuda" and quantize not in WEIGHT_QUANTIZED_MODES


def _piece_frames(requested: int | None, layer_norm: bool, model: str) -> int:
    """Frames per encoder piece: the request, or the default for this encoder's norm; 0 for none."""
    if requested is None:
        return DEFAULT_PIECE_FRAMES if layer_norm else 0
    if requested and not layer_norm:
        raise ExportError(
            f"{model}: a group-norm feature encoder normalises over the whole input, so it cannot run in "
            "pieces; use encoder_piece_frames=0"
        )
    return requested


def _source(checkpoint: Checkpoint, torch_model: Any) -> dict[str, Any]:
    return {
        "model": checkpoint.source,
        "weights_sha256": checkpoint.weights_sha256,
        "model_type": checkpoint.model_type,
        "architecture": CTC_ARCHITECTURE,
        "num_parameters": int(torch_model.num_parameters()),
    }


@contextmanager
def _export_forms(model: Any, feature_encoder: str, pos_conv: str, attention: str = "unfused") -> Iterator[None]:
    """MODEL with the chosen export forms of its feature encoder, positional conv and attention, restored after."""
    original_encoder = model.wav2vec2.feature_extractor
    if feature_encoder == "matmul":
        use_matmul_encoder(model)
    try:
        with ExitStack() as forms:
            if pos_conv == "conv2d":
                forms.enter_context(conv2d_pos_conv(model))
            if attention == "fused":
                forms.enter_context(fused_attention(model))
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
