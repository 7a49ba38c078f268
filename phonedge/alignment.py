"""Forced alignment: where each unit of a given transcript starts and ends, and how well it was said.

The best CTC path for the transcript (``lattice.viterbi``) gives each unit its frames: a unit
starts at the first frame the path spends on it and ends where the next unit starts (the blank
frames between two units belong to the earlier one); the last unit ends after its own frames.
Each unit's score is its GOP-SF posterior (``gop``): how much the model prefers this unit here
over any other unit or none, with every alignment summed. Frame edges are in seconds, frame k
spanning ``[k, k + 1) * frame_stride / sample_rate``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional, Protocol, Sequence, Union

import numpy as np
from numpy.typing import NDArray

from . import gop, lattice
from .ctc import transcript_ids
from .errors import (
    AlignmentError,
    AlignmentTooLongError,
    AlignmentTooShortError,
    EmptyTranscriptError,
    UnknownLabelError,
)
from .decoding import Decoding
from .manifest import ClassLabel, Manifest, TokenizerSpec
from .result import AlignedUnit, Alignment
from .scoring import log_softmax

STAR_PENALTY = 1.0  # nats per frame a star (extra speech) frame costs beyond the frame's best unit
DELETED = ""  # AlignedUnit.preferred when the model prefers no unit at that place
# The scores keep a forward and a backward table (frames x states, float64): at most this much.
# Times alone need no tables; their back-pointers are bounded by lattice.viterbi's checkpoints.
MAX_SCORE_TABLE_BYTES = 1 << 30


class AligningModel(Protocol):
    """The part of :class:`phonedge.Recognizer` that alignment uses (it sits below the recogniser)."""

    manifest: Manifest

    @property
    def labels(self) -> list[ClassLabel]:
        """The bundle's class labels."""
        ...

    @property
    def decoding(self) -> Decoding:
        """The bundle's decoding layer."""
        ...

    def prepare_audio(self, audio: Any, sample_rate: Optional[int] = None) -> NDArray[np.float32]:
        """Mono float32 samples at the model rate."""
        ...

    def logits(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits (frames, classes) of samples."""
        ...


def candidate_ids(spec: TokenizerSpec, num_classes: int) -> NDArray[np.int64]:
    """The units a transcript position competes with: each vocabulary string once, no blank, delimiter or <special>."""
    skip = {spec.pad_token, spec.unk_token, spec.word_delimiter_token}
    first: dict[str, int] = {}
    for index, token in enumerate(spec.vocab[:num_classes]):
        if index != spec.blank_id and token not in skip and not (token.startswith("<") and token.endswith(">")):
            first.setdefault(token, index)
    return np.array(sorted(first.values()), dtype=np.int64)


def align_log_probs(
    log_probs: NDArray[np.floating],
    ids: Sequence[int],
    tokens: Sequence[str],
    blank: int,
    frame_seconds: float,
    candidates: NDArray[np.int64],
    *,
    transcript: str = "",
    star: bool = False,
    scores: bool = True,
    duration: Optional[float] = None,
) -> Alignment:
    """Align token IDS to (T, V) LOG_PROBS; TOKENS[id] is each id's text, FRAME_SECONDS the frame stride.

    Raises:
        EmptyTranscriptError: IDS is empty.
        AlignmentTooShortError: fewer frames than the transcript needs.
        AlignmentTooLongError: SCORES asked for over more frames and units than MAX_SCORE_TABLE_BYTES allows.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    target = np.asarray(ids, dtype=np.int64)
    if target.size == 0:
        raise EmptyTranscriptError("the transcript to align is empty: give at least one unit")
    need, frames = lattice.min_frames(target), lp.shape[0]
    if frames < need:
        raise AlignmentTooShortError(
            f"the audio gives {frames} frames ({frames * frame_seconds:.3f} s) but the transcript "
            f"{transcript or list(ids)!r} needs at least {need} (one per unit, plus one between repeats); "
            "give longer audio or a shorter transcript"
        )
    table_bytes = 2 * frames * (2 * target.size + 1 + 2 * star) * 8
    if scores and table_bytes > MAX_SCORE_TABLE_BYTES:
        raise AlignmentTooLongError(
            f"per-unit scores for {target.size} units over {frames} frames need {table_bytes / 2**30:.1f} GiB of "
            f"tables (the limit is {MAX_SCORE_TABLE_BYTES / 2**30:.1f} GiB): pass scores=False (--no-scores) for "
            "the times alone, or align shorter pieces"
        )
    star_column = lp.shape[1] if star else None
    if star:
        lp = lattice.with_star_column(lp, STAR_PENALTY)
    grid = lattice.build(target[None, :], blank, star_column)
    best, path = lattice.viterbi(lp, grid)
    if scores:
        found = gop.position_scores(lp, target, blank, candidates, star_column)
        posteriors, rivals, log_likelihood = found.log_posterior, found.best, found.log_likelihood
        mean: Optional[float] = float(posteriors.mean())
    else:
        posteriors, rivals = np.full(target.size, np.nan), target
        log_likelihood, mean = float(lattice.forward(lp, grid)[0]), None
    label_states = (1 if star else 0) + 2 * np.arange(target.size) + 1
    starts, ends = _spans(path, label_states)
    units = [
        AlignedUnit(
            text=tokens[int(unit)], id=int(unit), start=float(s * frame_seconds), end=float(e * frame_seconds),
            score=float(np.exp(post)) if scores else None, preferred=_preferred(int(rival), int(unit), tokens),
            start_frame=int(s), end_frame=int(e),
        )
        for unit, s, e, post, rival in zip(target, starts, ends, posteriors, rivals)
    ]
    return Alignment(
        transcript=transcript or " ".join(u.text for u in units),
        units=units,
        score=None if mean is None else float(np.exp(mean)),
        log_score=mean,
        log_likelihood=log_likelihood,
        path_log_prob=best,
        duration=frames * frame_seconds if duration is None else duration,
    )


def align(
    recognizer: AligningModel,
    audio: Any,
    sample_rate: Optional[int] = None,
    *,
    transcript: Optional[str] = None,
    label: Union[str, int, None] = None,
    labels: Optional[Sequence[ClassLabel]] = None,
    star: bool = False,
    scores: bool = True,
) -> Alignment:
    """Align a transcript (in the tokenizer's units) or a class label's transcript to one utterance.

    Args:
        recognizer: the loaded bundle.
        audio: a path, or an array of samples with ``sample_rate``.
        transcript: units as the tokenizer writes them (phonemes separated by spaces).
        label: a class label whose transcript the bundle (or ``labels``) carries.
        labels: classes to look ``label`` up in; default the bundle's.
        star: let extra speech before and after the transcript go unaligned.
        scores: compute each unit's GOP-SF score (most of the cost on long transcripts); False
            gives only the times (scores None).

    Raises:
        AlignmentError: neither or both of transcript and label given; its subclasses for an
            unknown label (UnknownLabelError) or unit (UnknownUnitError), an empty transcript
            (EmptyTranscriptError), audio too short for the transcript (AlignmentTooShortError).
        AudioError: the audio is missing, unreadable, too short or malformed.
    """
    chosen = resolve(recognizer, transcript, label, labels)
    samples = recognizer.prepare_audio(audio, sample_rate)
    return align_logits(recognizer.decoding, recognizer.logits(samples), len(samples), chosen, star=star,
                        scores=scores)


def resolve(
    recognizer: AligningModel,
    transcript: Optional[str],
    label: Union[str, int, None],
    labels: Optional[Sequence[ClassLabel]] = None,
) -> ClassLabel:
    """The transcript to align, as a ClassLabel (label "" when given as text), checked against the vocabulary."""
    if (transcript is None) == (label is None):
        raise AlignmentError("give exactly one of transcript (units to align) or label (a class of the bundle)")
    if label is not None:
        classes = recognizer.labels if labels is None else list(labels)
        found = [c for c in classes if c.label == str(label)]
        if not found:
            have = ", ".join(c.label for c in classes) or "none"
            raise UnknownLabelError(f"class label {str(label)!r} is not one of the classes ({have}); "
                                    "give one of them or the transcript itself")
        chosen = found[0]
    else:
        chosen = ClassLabel(label="", transcript=str(transcript))
    if not transcript_ids(recognizer.manifest.tokenizer, chosen.transcript):
        raise EmptyTranscriptError(f"the transcript {chosen.transcript!r} holds no units; give at least one")
    return chosen


def align_logits(
    decoding: Decoding,
    logits: NDArray[np.floating],
    n_samples: int,
    chosen: ClassLabel,
    *,
    star: bool = False,
    scores: bool = True,
) -> Alignment:
    """The Alignment of CHOSEN's transcript (from :func:`resolve`) to one utterance's logits, by DECODING's rules."""
    spec = decoding.manifest.tokenizer
    tokens = decoding.ctc.tokens
    result = align_log_probs(
        log_softmax(np.asarray(logits, dtype=np.float32)),
        transcript_ids(spec, chosen.transcript),
        tokens,
        spec.blank_id,
        decoding.grid.step,
        candidate_ids(spec, len(tokens)),
        transcript=" ".join(chosen.transcript.split()),
        star=star,
        scores=scores,
        duration=n_samples / decoding.manifest.audio.sample_rate,
    )
    if chosen.label:
        return replace(result, label=chosen.label, name=chosen.name)
    return result


def align_decided(
    decoding: Decoding, logits: NDArray[np.floating], n_samples: int, label: Optional[str],
    labels: Sequence[ClassLabel],
) -> Optional[Alignment]:
    """The decided class LABEL (one of LABELS, or None: nothing to align) aligned to one utterance's logits."""
    if label is None:
        return None
    return align_logits(decoding, logits, n_samples, next(c for c in labels if c.label == label))


def _spans(path: NDArray[np.int64], label_states: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """First frame of each label state on the path; each ends where the next starts, the last after its frames."""
    starts = np.searchsorted(path, label_states, side="left")
    ends = np.append(starts[1:], np.searchsorted(path, label_states[-1], side="right"))
    return starts.astype(np.int64), ends.astype(np.int64)


def _preferred(rival: int, unit: int, tokens: Sequence[str]) -> Optional[str]:
    """The preferred rival's text, DELETED for the deletion, None when it is the unit itself."""
    if rival == unit:
        return None
    return DELETED if rival == gop.DELETED else tokens[rival]
