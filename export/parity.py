"""Compare the exported graph with the PyTorch model and decide whether the bundle may be written.

The contract: a float32 graph must match PyTorch's logits within ``fp32_atol``. A reduced-precision
graph (int8, fp16) cannot match logits exactly, so it is judged by the decisions it makes: the share
of frames whose argmax class agrees with PyTorch (``min_frame_agreement``, always enforced) and the
share of inputs whose greedy CTC id sequence is identical (``min_agreement``). A graph with an
attention mask is also run on a zero-padded batch of the first inputs, whose valid frames must meet
the same logit (float32) or frame (int8, fp16) threshold against PyTorch's unpadded items; dynamic
int8 quantizes activations with one scale per batch tensor, so its batched logits differ a little.

Generated signals are not speech: on them a model emits few, low-confidence tokens whose greedy
sequence flips on tiny logit changes, so the transcript threshold is enforced by default only on
the user's calibration audio (0.99); an explicit ``min_agreement`` is enforced on either kind of input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from phonedge.ctc import CTCDecoder
from phonedge.errors import ExportError
from phonedge.manifest import TokenizerSpec

from .onnx_graph import ATTENTION_MASK, INPUT_VALUES

DEFAULT_FP32_ATOL = 1e-4
DEFAULT_MIN_AGREEMENT = 0.99
DEFAULT_MIN_FRAME_AGREEMENT = 0.98
PADDED_BATCH_SIZE = 4


@dataclass(frozen=True)
class Gate:
    """The thresholds the parity check enforces, and whether a failure refuses the export."""

    fp32_atol: float = DEFAULT_FP32_ATOL
    min_agreement: float | None = None
    min_frame_agreement: float = DEFAULT_MIN_FRAME_AGREEMENT
    enabled: bool = True


def torch_logits(model: Any, inputs: Sequence[NDArray[np.float32]], with_mask: bool) -> list[NDArray[np.float32]]:
    """PyTorch logits of each input run alone (with an all-ones mask when the graph takes one)."""
    import torch

    outputs = []
    with torch.inference_mode():
        for x in inputs:
            values = torch.from_numpy(np.ascontiguousarray(x)[None])
            mask = {"attention_mask": torch.ones(values.shape, dtype=torch.long)} if with_mask else {}
            outputs.append(model(values, **mask).logits[0].float().numpy())
    return outputs


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session: Any, inputs: Sequence[NDArray[np.float32]]) -> list[NDArray[np.float32]]:
    """ONNX Runtime (CPU) logits of each input run alone."""
    names = {node.name for node in session.get_inputs()}
    outputs = []
    for x in inputs:
        feeds = {INPUT_VALUES: np.ascontiguousarray(x, dtype=np.float32)[None]}
        if ATTENTION_MASK in names:
            feeds[ATTENTION_MASK] = np.ones(feeds[INPUT_VALUES].shape, dtype=np.int64)
        outputs.append(session.run(None, feeds)[0][0])
    return outputs


def onnx_padded_logits(
    session: Any, inputs: Sequence[NDArray[np.float32]], frames: Sequence[int], padding_value: float = 0.0
) -> list[NDArray[np.float32]]:
    """ONNX Runtime logits of INPUTS run as one right-padded, masked batch, cut to each item's FRAMES."""
    from phonedge.features import pad_batch

    batch, mask = pad_batch(list(inputs), padding_value)
    logits = session.run(None, {INPUT_VALUES: batch, ATTENTION_MASK: mask})[0]
    return [logits[row, :count] for row, count in enumerate(frames)]


def compare(
    reference: Sequence[NDArray[np.floating]],
    candidate: Sequence[NDArray[np.floating]],
    tokenizer: TokenizerSpec,
) -> dict[str, Any]:
    """Logit differences and argmax/transcript agreement of CANDIDATE against REFERENCE, input by input.

    Transcripts are the runtime's own greedy decoding (phonedge.ctc.CTCDecoder), so the gate agrees
    with what ``phonedge predict`` prints, tokens with the same text included.
    """
    worst, total, frames, same_frames, same_transcripts = 0.0, 0.0, 0, 0, 0
    for ref, got in zip(reference, candidate):
        if ref.shape != got.shape:
            raise ExportError(f"the ONNX graph's logits have shape {got.shape}, PyTorch's {ref.shape}")
        diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
        worst = max(worst, float(diff.max(initial=0.0)))
        total += float(diff.sum())
        frames += ref.shape[0]
        same_frames += int((ref.argmax(-1) == got.argmax(-1)).sum())
        decoder = CTCDecoder(tokenizer, ref.shape[-1])
        same_transcripts += decoder.decode(ref) == decoder.decode(got)
    count = len(reference)
    return {
        "max_abs_logit_diff": worst,
        "mean_abs_logit_diff": total / max(sum(r.size for r in reference), 1),
        "frame_argmax_agreement": same_frames / max(frames, 1),
        "transcript_agreement": same_transcripts / max(count, 1),
        "n_inputs": count,
        "n_frames": frames,
    }


def measure_parity(
    model: Any,
    path: Path,
    inputs: Sequence[NDArray[np.float32]],
    *,
    tokenizer: TokenizerSpec,
    with_mask: bool,
    inputs_kind: str,
    padding_value: float = 0.0,
    reference: Sequence[NDArray[np.float32]] | None = None,
) -> dict[str, Any]:
    """Parity figures of the graph at PATH against MODEL on INPUTS (plus a padded batch for masked graphs).

    REFERENCE: MODEL's logits on INPUTS when already computed (``torch_logits``).
    """
    if reference is None:
        reference = torch_logits(model, inputs, with_mask)
    session = _session(path)
    figures = compare(reference, onnx_logits(session, inputs), tokenizer)
    figures["inputs"] = inputs_kind
    figures["padded_batch"] = None
    if with_mask:
        head = list(inputs[:PADDED_BATCH_SIZE])
        padded = onnx_padded_logits(session, head, [r.shape[0] for r in reference[: len(head)]], padding_value)
        batch = compare(reference[: len(head)], padded, tokenizer)
        figures["padded_batch"] = {
            key: batch[key] for key in ("n_inputs", "max_abs_logit_diff", "frame_argmax_agreement")
        }
    return figures


def apply_gate(figures: dict[str, Any], mode: str, gate: Gate) -> tuple[dict[str, Any], list[str]]:
    """Add thresholds and the verdict to FIGURES; return them with the list of failed checks."""
    failures = []
    padded = figures.get("padded_batch") or {}
    if mode == "none":
        thresholds: dict[str, Any] = {"fp32_atol": gate.fp32_atol}
        if figures["max_abs_logit_diff"] > gate.fp32_atol:
            failures.append(
                f"max |logit difference| {figures['max_abs_logit_diff']:.3g} > fp32_atol {gate.fp32_atol:g}"
            )
        if padded and padded["max_abs_logit_diff"] > gate.fp32_atol:
            failures.append(
                f"padded-batch max |logit difference| {padded['max_abs_logit_diff']:.3g} > fp32_atol {gate.fp32_atol:g}"
            )
    else:
        min_agreement = gate.min_agreement
        if min_agreement is None and figures["inputs"] == "calibration":
            min_agreement = DEFAULT_MIN_AGREEMENT
        thresholds = {"min_frame_agreement": gate.min_frame_agreement, "min_agreement": min_agreement}
        if figures["frame_argmax_agreement"] < gate.min_frame_agreement:
            failures.append(
                f"frame argmax agreement {figures['frame_argmax_agreement']:.4f} < {gate.min_frame_agreement:g}"
            )
        if padded and padded["frame_argmax_agreement"] < gate.min_frame_agreement:
            failures.append(
                f"padded-batch frame argmax agreement {padded['frame_argmax_agreement']:.4f} "
                f"< {gate.min_frame_agreement:g}"
            )
        if min_agreement is not None and figures["transcript_agreement"] < min_agreement:
            failures.append(f"transcript agreement {figures['transcript_agreement']:.4f} < {min_agreement:g}")
    result = dict(figures, thresholds=thresholds, gated=gate.enabled, passed=not failures)
    return result, failures
