"""One decoding layer: log-probabilities on the frame grid -> tokens, times, confidences and the class decision.

The recogniser (whole utterances) and the stream (partials and finals) both decode through a
:class:`Decoding`, so each rule exists once: token times on the frame grid, the confidence
formula, the class decision. A stream reaches the model only through :class:`LogitsEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Protocol, Union

import numpy as np
from numpy.typing import NDArray

from .ctc import CTCDecoder
from .decide import DEFAULT_OPEN_SET, Classify, ClassDecider, OpenSet
from .grid import FrameGrid
from .manifest import ClassLabel, Manifest
from .result import Prediction, Token
from .scoring import log_softmax
from .speech import SpeechEvidence, speech_evidence


class LogitsEngine(Protocol):
    """What decoding live audio needs of a model: its decoding layer and the logits of samples."""

    @property
    def decoding(self) -> Decoding:
        """The decoding layer of the model's bundle."""
        ...

    def window_logits(self, window: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits (frames, classes) of one window of samples at the model rate, normalised on its own."""
        ...

    def logits(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits (frames, classes) of one utterance at the model rate (in windows when long)."""
        ...


def path_confidence(log_probs: NDArray[np.floating]) -> float:
    """Geometric mean of the greedy path's frame probabilities (blanks included); 0.0 for no frames."""
    return float(np.exp(log_probs.max(axis=-1).mean())) if len(log_probs) else 0.0


class Decoding:
    """Decodes one bundle's log-probabilities: greedy CTC tokens on its frame grid and class decisions."""

    def __init__(self, manifest: Manifest, num_classes: int, open_set: OpenSet = DEFAULT_OPEN_SET) -> None:
        """Build the greedy decoder for the bundle's tokenizer and logits width, and its frame grid."""
        self.manifest = manifest
        self.open_set = open_set
        self.grid = FrameGrid.from_audio(manifest.audio)
        self.ctc = CTCDecoder(manifest.tokenizer, num_classes)

    def decider(self, labels: Optional[Sequence[ClassLabel]] = None, classify: Classify = "ctc") -> ClassDecider:
        """The class decision rule for these labels (default: the bundle's) and method."""
        chosen = self.manifest.labels if labels is None else list(labels)
        return ClassDecider(self.manifest.tokenizer, chosen, classify, self.open_set)

    def tokens(self, log_probs: NDArray[np.float32], first_frame: int = 0) -> tuple[str, list[Token]]:
        """The greedy transcript and its tokens, times in seconds counted from frame ``-first_frame``."""
        seg = self.ctc.segments(log_probs)
        step = self.grid.step
        tokens = [
            Token(text, int(i), float((first_frame + s) * step), float((first_frame + e) * step), float(np.exp(lp)))
            for text, i, s, e, lp in zip(
                self.ctc.token_text(seg.ids), seg.ids, seg.start_frames, seg.end_frames, seg.mean_log_probs
            )
        ]
        return self.ctc.text(seg.ids), tokens

    def prediction(
        self,
        logits: NDArray[np.float32],
        samples: Union[NDArray[np.float32], int],
        decider: ClassDecider,
        return_logits: bool = False,
        evidence: Optional[SpeechEvidence] = None,
    ) -> Prediction:
        """The Prediction for one utterance's logits and its samples at the model rate.

        Given only the number of samples, the class decision cannot tell tones or silence from
        speech by the waveform and judges the model's output alone, unless ``evidence`` gathered
        block by block comes with it (long files read in blocks, phonedge/longform.py).
        """
        log_probs = log_softmax(np.asarray(logits, dtype=np.float32))
        text, tokens = self.tokens(log_probs)
        n_samples = samples if isinstance(samples, int) else len(samples)
        if not decider.weighs_evidence:
            evidence = None
        elif evidence is None and not isinstance(samples, int):
            evidence = speech_evidence(samples, self.grid)
        decision = decider.decide(log_probs, text, evidence)
        return Prediction(
            text=text,
            tokens=tokens,
            confidence=path_confidence(log_probs),
            duration=n_samples / self.grid.sample_rate,
            label=decision.label,
            label_probs=decision.probs,
            label_score=decision.score,
            label_reason=decision.reason,
            logits=logits if return_logits else None,
        )
