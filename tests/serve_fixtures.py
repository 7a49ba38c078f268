"""Helpers for the server's tests: a test-only fake stream, and (from benchmarks/serving/serve_process.py, which the
serve benchmark shares) the audio builder and a server subprocess."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from benchmarks.serving.serve_process import ServerProcess, free_port, utterances_with_pauses  # noqa: F401 (re-exported)
from phonedge.recognizer import Recognizer


@dataclass(frozen=True)
class FakeEvent:
    """Stands for a StreamEvent in protocol tests: ``to_dict`` is all the server uses."""

    kind: str
    text: str
    start: float = 0.0
    end: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "start": self.start, "end": self.end, "label": None}


@dataclass
class FakeStream:
    """Records every block it is given; one partial per accept, one final (the sample count) on finish."""

    blocks: list[np.ndarray] = field(default_factory=list)
    rates: list[Optional[int]] = field(default_factory=list)
    finished: bool = False

    def accept(self, samples: np.ndarray, sample_rate: Optional[int] = None) -> list[FakeEvent]:
        assert not self.finished
        self.blocks.append(np.array(samples))
        self.rates.append(sample_rate)
        return [FakeEvent("partial", f"{self.count} samples")]

    def finish(self) -> list[FakeEvent]:
        self.finished = True
        return [FakeEvent("final", f"{self.count} samples", 0.0, self.count / 16000)]

    @property
    def count(self) -> int:
        return int(sum(len(b) for b in self.blocks))

    def samples(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros(0)


def with_fake_streams(rec: Recognizer) -> list[FakeStream]:
    """Make ``rec.stream()`` hand out FakeStreams (on this instance only) and return the list of them."""
    made: list[FakeStream] = []

    def stream(*args: Any, **kwargs: Any) -> FakeStream:
        made.append(FakeStream())
        return made[-1]

    rec.stream = stream  # type: ignore[method-assign]
    return made


def has_real_stream() -> bool:
    """Whether this build has the stream API (issue #10)."""
    return callable(getattr(Recognizer, "stream", None))
