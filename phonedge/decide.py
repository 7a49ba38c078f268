"""Class decisions: the one place that turns model output into a class label and its probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Optional, get_args

import numpy as np
from numpy.typing import NDArray

from . import scoring
from .ctc import transcript_ids, transcript_units
from .errors import PhonedgeError
from .manifest import ClassLabel, TokenizerSpec

Classify = Literal["ctc", "nearest"]
CLASSIFY_METHODS: tuple[str, ...] = get_args(Classify)


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
    """Decides between class labels for one tokenizer, by CTC likelihood or by nearest transcript."""

    def __init__(self, tokenizer: TokenizerSpec, labels: Sequence[ClassLabel], classify: Classify = "ctc") -> None:
        """Map each class transcript to token ids (ctc) or units (nearest) once."""
        check_classify(classify)
        self.tokenizer, self.labels, self.classify = tokenizer, list(labels), classify
        self.names = [lab.label for lab in self.labels]
        self._targets: list[list[int]] = []
        for lab in self.labels:
            try:
                self._targets.append(transcript_ids(tokenizer, lab.transcript))
            except PhonedgeError as exc:
                raise PhonedgeError(f"class {lab.label!r}: {exc}") from None
        self._units = [transcript_units(tokenizer, lab.transcript) for lab in self.labels]

    def decide(
        self, log_probs: NDArray[np.floating], text: str
    ) -> tuple[Optional[str], Optional[dict[str, float]]]:
        """The label and (ctc only) class probabilities; (None, None) when there are no classes."""
        if not self.labels:
            return None, None
        if self.classify == "ctc":
            return ctc_decision(log_probs, self._targets, self.tokenizer.blank_id, self.names)
        best = scoring.nearest_class(transcript_units(self.tokenizer, text), self._units)
        return self.names[best], None
