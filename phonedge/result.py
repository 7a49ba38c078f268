"""The typed result of one prediction, with a plain-dict/JSON form."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    ``label`` and ``label_probs`` are set when the bundle (or the call) has class labels.
    """

    text: str
    tokens: list[Token]
    confidence: float
    duration: float
    label: Optional[str] = None
    label_probs: Optional[dict[str, float]] = None
    logits: Optional[NDArray[np.float32]] = field(default=None, repr=False, compare=False)

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
        if self.label is not None:
            out["label"] = self.label
            out["label_probs"] = {k: round(v, 6) for k, v in (self.label_probs or {}).items()}
        if include_logits and self.logits is not None:
            out["logits"] = self.logits.tolist()
        return out

    def to_json(self, timestamps: bool = True) -> str:
        """One-line JSON form."""
        return json.dumps(self.to_dict(timestamps=timestamps), ensure_ascii=False)
