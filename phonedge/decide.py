"""Class decisions: the one place that turns model output into a class label, its probabilities and its score.

The decision is open-set: it may answer "none of these", with a reason (``REASONS``). Its score
(``label_score``) is a log-likelihood ratio in nats: the CTC log-likelihood of the decided class's
transcript minus that of the model's own best frame-by-frame path. Near 0 the class explains the
audio as well as anything the model hears; far below 0 the model hears something else. Of the
scores measured (benchmarks/accuracy/open_set.py: per utterance, per frame, per phoneme, against the greedy
transcript) this one separated the FSDD digits 0-3 from 4-9 best. The class probabilities stay a
softmax over the classes: they are conditional on the audio being one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Optional, get_args

import numpy as np
from numpy.typing import NDArray

from . import scoring
from .ctc import transcript_ids, transcript_units
from .errors import PhonedgeError
from .manifest import ClassLabel, TokenizerSpec
from .speech import SpeechEvidence

Classify = Literal["ctc", "nearest"]
CLASSIFY_METHODS: tuple[str, ...] = get_args(Classify)

# Why a decision gave no label: nothing but silence, tones or hum (or no phoneme heard); a sound that fits
# no class well enough; frames too few for every class transcript.
Reason = Literal["no_speech", "out_of_set", "too_short"]
REASONS: tuple[str, ...] = get_args(Reason)

# The threshold of a bundle exported without reject calibration (benchmarks/accuracy/open_set.py, reference model:
# in-set FSDD train clips score a median of +0.4 nats, the 1%-rejection point is -1.0; other digits score
# a median of -25). Calibrate your own with ``phonedge export --reject-calibration``.
DEFAULT_REJECT_THRESHOLD = -2.0


@dataclass(frozen=True)
class OpenSet:
    """The open-set rule: ``threshold`` on the score (None: closed set, every sound gets a class)."""

    threshold: Optional[float] = DEFAULT_REJECT_THRESHOLD

    @property
    def closed(self) -> bool:
        """Whether every decodable sound gets a class, as before phonedge 0.3."""
        return self.threshold is None


CLOSED_SET = OpenSet(None)
DEFAULT_OPEN_SET = OpenSet()


@dataclass(frozen=True)
class Decision:
    """A class decision: the label (None: no class), class probabilities, the score, and why there is no label."""

    label: Optional[str] = None
    probs: Optional[dict[str, float]] = None
    score: Optional[float] = None
    reason: Optional[Reason] = None


def threshold_for_rejection_rate(in_set_scores: Sequence[float], rate: float) -> float:
    """The highest threshold that rejects at most RATE of the in-set scores (a score below it is rejected)."""
    scores = np.sort(np.asarray(in_set_scores, dtype=np.float64))
    if scores.size == 0:
        raise PhonedgeError("no in-set scores to calibrate the open-set threshold on")
    if not 0.0 <= rate < 1.0:
        raise PhonedgeError(f"the in-set rejection rate must be in [0, 1), got {rate}")
    return float(scores[int(np.floor(rate * scores.size))])


def free_path_log_prob(log_probs: NDArray[np.floating]) -> float:
    """Log-probability of the model's own best path: the most likely symbol on every frame."""
    # The max of float32 values is exact; summing it in float64 equals converting the whole (T, V) array first.
    return float(np.asarray(log_probs).max(axis=-1).astype(np.float64).sum())


def check_classify(classify: str) -> None:
    """Raise PhonedgeError unless ``classify`` names a decision method."""
    if classify not in CLASSIFY_METHODS:
        raise PhonedgeError(f"classify must be one of {', '.join(CLASSIFY_METHODS)}, got {classify!r}")


def ctc_decision(
    log_probs: NDArray[np.floating], targets: Sequence[Sequence[int]], blank: int, names: Sequence[str]
) -> tuple[Optional[str], dict[str, float]]:
    """The class whose transcript has the highest CTC posterior, and every class's posterior.

    No class fits, no label: when the frames are too few for every class transcript, the label
    is None (the posteriors are then uniform) rather than an arbitrary first class.
    """
    scores = scoring.class_log_likelihoods(log_probs, targets, blank)
    posteriors = scoring.posteriors_from_log_likelihoods(scores)
    probs = {name: float(p) for name, p in zip(names, posteriors)}
    label = None if np.isneginf(scores).all() else names[int(np.argmax(posteriors))]
    return label, probs


class ClassDecider:
    """Decides between class labels for one tokenizer, by CTC likelihood or by nearest transcript, open-set."""

    def __init__(
        self,
        tokenizer: TokenizerSpec,
        labels: Sequence[ClassLabel],
        classify: Classify = "ctc",
        open_set: OpenSet = DEFAULT_OPEN_SET,
    ) -> None:
        """Map each class transcript to token ids (ctc) or units (nearest) once."""
        check_classify(classify)
        self.tokenizer, self.labels, self.classify, self.open_set = tokenizer, list(labels), classify, open_set
        self.names = [lab.label for lab in self.labels]
        self._targets: list[list[int]] = []
        for lab in self.labels:
            try:
                self._targets.append(transcript_ids(tokenizer, lab.transcript))
            except PhonedgeError as exc:
                raise PhonedgeError(f"class {lab.label!r}: {exc}") from None
        self._units = [transcript_units(tokenizer, lab.transcript) for lab in self.labels]

    @property
    def weighs_evidence(self) -> bool:
        """Whether the decision weighs the waveform's speech evidence (open-set, with labels)."""
        return bool(self.labels) and not self.open_set.closed

    def decide(
        self, log_probs: NDArray[np.floating], text: str, evidence: Optional[SpeechEvidence] = None
    ) -> Decision:
        """The decision for one utterance's log-probabilities and greedy transcript.

        ``evidence`` (the waveform's, see :mod:`phonedge.speech`) lets silence, tones and hum be
        told from speech; without it only the model's output is judged.
        """
        if not self.labels:
            return Decision()
        if self.classify == "ctc":
            scores = scoring.class_log_likelihoods(log_probs, self._targets, self.tokenizer.blank_id)
            if np.isneginf(scores).all():
                return Decision(None, _uniform(self.names), None, "too_short")
            posteriors = scoring.posteriors_from_log_likelihoods(scores)
            best = int(np.argmax(posteriors))
            probs: Optional[dict[str, float]] = {name: float(p) for name, p in zip(self.names, posteriors)}
            fit = float(scores[best])
        else:
            best = scoring.nearest_class(transcript_units(self.tokenizer, text), self._units)
            probs = None
            fit = scoring.ctc_log_likelihood(log_probs, self._targets[best], self.tokenizer.blank_id)
        label = self.names[best]
        if np.isneginf(fit):  # nearest only: this class's transcript cannot fit the frames
            return Decision(label, None, None) if self.open_set.closed else Decision(None, None, None, "too_short")
        score = fit - free_path_log_prob(log_probs)
        if self.open_set.closed:
            return Decision(label, probs, score)
        if not text or (evidence is not None and (evidence.silent or evidence.tonal)):
            return Decision(None, probs, score, "no_speech")
        assert self.open_set.threshold is not None
        if score < self.open_set.threshold:
            return Decision(None, probs, score, "out_of_set")
        return Decision(label, probs, score)


def _uniform(names: Sequence[str]) -> dict[str, float]:
    return {name: 1.0 / len(names) for name in names}
