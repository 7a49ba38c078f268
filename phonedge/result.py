"""The typed result of one prediction, with a plain-dict/JSON form."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Token:
    """One emitted token: its text, id, time span in seconds and confidence (softmax probability)."""

    text: str
    id: int
    start: float
    end: float
    confidence: float

    def shifted(self, seconds: float) -> Token:
        """The same token with its times moved by ``seconds``."""
        return Token(self.text, self.id, self.start + seconds, self.end + seconds, self.confidence)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, times rounded to 0.1 ms."""
        return {"text": self.text, "id": self.id, "start": round(self.start, 4), "end": round(self.end, 4),
                "confidence": round(self.confidence, 6)}


@dataclass(frozen=True)
class Prediction:
    """What the recogniser says of one utterance.

    ``confidence`` is the geometric mean of the per-frame probabilities of the greedy path
    (blanks included); a token's confidence is the geometric mean over its own frames.
    With class labels (the bundle's or the call's), ``label`` is the decided class or None, and then
    ``label_reason`` says why: ``"no_speech"``, ``"out_of_set"`` or ``"too_short"``. ``label_score`` is
    the open-set score of the best class (log-likelihood ratio in nats, near 0 = a good fit; the
    bundle's threshold decides); ``label_probs`` are the classes' probabilities *given* that the audio
    is one of them. ``alignment`` (asked for with ``predict(..., align=True)``) places the decided
    class's transcript in time with per-unit scores; it is None when no class was decided.
    """

    text: str
    tokens: list[Token]
    confidence: float
    duration: float
    label: Optional[str] = None
    label_probs: Optional[dict[str, float]] = None
    label_score: Optional[float] = None
    label_reason: Optional[str] = None
    logits: Optional[NDArray[np.float32]] = field(default=None, repr=False, compare=False)
    alignment: Optional[Alignment] = None

    @property
    def token_ids(self) -> list[int]:
        """The ids of the emitted tokens."""
        return [t.id for t in self.tokens]

    def to_dict(self, timestamps: bool = True, include_logits: bool = False) -> dict[str, Any]:
        """Plain-dict form (JSON-ready); tokens with times only when ``timestamps``."""
        out: dict[str, Any] = {
            "text": self.text,
            "confidence": round(self.confidence, 6),
            "duration": round(self.duration, 6),
            "token_ids": self.token_ids,
        }
        if timestamps:
            out["tokens"] = [t.to_dict() for t in self.tokens]
        out.update(label_fields(self.label, self.label_probs, self.label_score, self.label_reason))
        if self.alignment is not None:
            out["alignment"] = self.alignment.to_dict()
        if include_logits and self.logits is not None:
            out["logits"] = self.logits.tolist()
        return out

    def to_json(self, timestamps: bool = True) -> str:
        """One-line JSON form."""
        return json.dumps(self.to_dict(timestamps=timestamps), ensure_ascii=False)


@dataclass(frozen=True)
class AlignedUnit:
    """One transcript unit placed in time: text, id, start/end in seconds, score in [0, 1], preferred rival."""

    text: str
    id: int
    start: float
    end: float
    score: Optional[float]  # GOP-SF: posterior of this unit here against its substitutions and deletion
    preferred: Optional[str]  # the unit the model prefers here, "" for none; None when it is this one
    start_frame: int
    end_frame: int

    def shifted(self, seconds: float, frames: int) -> AlignedUnit:
        """The same unit with its times moved by SECONDS (FRAMES output frames)."""
        return replace(self, start=self.start + seconds, end=self.end + seconds,
                       start_frame=self.start_frame + frames, end_frame=self.end_frame + frames)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, times rounded to 0.1 ms."""
        return {"text": self.text, "id": self.id, "start": round(self.start, 4), "end": round(self.end, 4),
                "score": None if self.score is None else round(self.score, 6), "preferred": self.preferred}


@dataclass(frozen=True)
class Alignment:
    """A transcript aligned to one utterance.

    ``score`` is the geometric mean of the units' scores and ``log_score`` its log (it ranks
    transcripts where ``score`` underflows to 0), both None when scores were not asked for;
    ``log_likelihood`` is the transcript's CTC log-likelihood (every alignment summed; with star
    states it counts their frames' scores too) and ``path_log_prob`` the best path's. ``label``
    and ``name`` are set when a class label was aligned.
    """

    transcript: str
    units: list[AlignedUnit]
    score: Optional[float]
    log_score: Optional[float]
    log_likelihood: float
    path_log_prob: float
    duration: float
    label: Optional[str] = None
    name: str = ""

    def shifted(self, seconds: float, frames: int) -> Alignment:
        """The same alignment with its units' times moved by SECONDS (FRAMES output frames), e.g. to stream time."""
        return replace(self, units=[u.shifted(seconds, frames) for u in self.units])

    @property
    def start(self) -> float:
        """When the first unit starts, in seconds."""
        return self.units[0].start

    @property
    def end(self) -> float:
        """When the last unit ends, in seconds."""
        return self.units[-1].end

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-ready)."""
        out: dict[str, Any] = {"transcript": self.transcript}
        if self.label is not None:
            out["label"] = self.label
            out["name"] = self.name
        out.update({"score": _round(self.score, 6), "log_score": _round(self.log_score, 4),
                    "log_likelihood": round(self.log_likelihood, 4), "path_log_prob": round(self.path_log_prob, 4),
                    "duration": round(self.duration, 6), "units": [u.to_dict() for u in self.units]})
        return out

    def to_json(self) -> str:
        """One-line JSON form."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _round(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def label_fields(
    label: Optional[str], probs: Optional[dict[str, float]], score: Optional[float], reason: Optional[str]
) -> dict[str, Any]:
    """The class decision's JSON fields (none when there was no decision to make, i.e. no class labels)."""
    if label is None and reason is None:
        return {}
    return {"label": label, "label_probs": {k: round(v, 6) for k, v in (probs or {}).items()},
            "label_score": None if score is None else round(score, 4), "label_reason": reason}


def label_text(label: Optional[str], reason: Optional[str]) -> Optional[str]:
    """The decision as plain output shows it: ``label=0``, ``label=none:out_of_set``, or None without classes."""
    if label is not None:
        return f"label={label}"
    return None if reason is None else f"label=none:{reason}"
