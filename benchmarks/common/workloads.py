"""Benchmark inputs and timing: speech-like signals of set lengths, eval audio, min/median after warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 16_000
RECEPTIVE_FIELD = 400  # samples of one wav2vec2 output frame; shorter audio is refused by phonedge


@dataclass(frozen=True)
class SpeedPlan:
    """Input lengths, warm-up calls and timed repeats per length."""

    lengths_s: tuple[float, ...]
    warmup: int
    repeats: dict[float, int] = field(default_factory=dict)

    def repeats_for(self, seconds: float) -> int:
        """Timed repeats at one length (3 when the plan does not say)."""
        return int(self.repeats.get(seconds, 3))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"lengths_s": list(self.lengths_s), "warmup": self.warmup,
                "repeats": {_key(s): self.repeats_for(s) for s in self.lengths_s}}


FULL_PLAN = SpeedPlan((1.0, 3.0, 10.0, 30.0), warmup=1, repeats={1.0: 5, 3.0: 5, 10.0: 3, 30.0: 3})
QUICK_PLAN = SpeedPlan((1.0, 3.0), warmup=1, repeats={1.0: 2, 3.0: 2})


def _key(seconds: float) -> str:
    """JSON key of a length: '1', '2.5'."""
    return f"{seconds:g}"


def length_key(seconds: float) -> str:
    """The JSON key used for an input length in seconds."""
    return _key(seconds)


def load_16k(path: Path) -> NDArray[np.float32]:
    """One file as mono float32 at 16 kHz, decoded and resampled exactly as phonedge does (soxr VHQ)."""
    from phonedge.audio import prepare_audio

    return prepare_audio(str(path), None, SAMPLE_RATE, RECEPTIVE_FIELD)


# The long-audio sequence: the 120 eval utterances in eval-list order with this much silence after each.
SEQUENCE_GAP_S = 0.3


def fsdd_sequence(repo: Path) -> tuple[NDArray[np.float32], list[tuple[int, NDArray[np.float32], str]]]:
    """The ~86 s FSDD sequence (reference/eval.tsv's utterances, SEQUENCE_GAP_S apart) and, for each
    utterance, its first sample in the sequence, its own samples and its transcript."""
    rows = [line.split("\t") for line in (repo / "reference" / "eval.tsv").read_text().splitlines()[1:]]
    gap = np.zeros(int(SEQUENCE_GAP_S * SAMPLE_RATE), np.float32)
    parts, words, at = [], [], 0
    for row in rows:
        x = load_16k(repo / "reference" / row[0])
        words.append((at, x, row[1]))
        parts += [x, gap]
        at += len(x) + len(gap)
    return np.concatenate(parts), words


def speech_signal(seconds: float, recordings: Sequence[Path]) -> NDArray[np.float32]:
    """SECONDS of real speech: the recordings (16 kHz) concatenated in order and cycled; synthetic if none."""
    n = int(round(seconds * SAMPLE_RATE))
    if not recordings:
        return synthetic_speech(seconds)
    pieces, total = [], 0
    while total < n:
        for path in recordings:
            piece = load_16k(path)
            pieces.append(piece)
            total += len(piece)
            if total >= n:
                break
    return np.concatenate(pieces)[:n].astype(np.float32)


def synthetic_speech(seconds: float, seed: int = 0) -> NDArray[np.float32]:
    """Deterministic speech-like signal: voiced harmonics with a moving pitch, syllable envelope and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * SAMPLE_RATE))) / SAMPLE_RATE
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 10))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    signal = 0.3 * envelope * voiced + 0.02 * rng.standard_normal(t.size)
    return signal.astype(np.float32)


def time_calls(fn: Callable[[], Any], warmup: int, repeats: int) -> list[float]:
    """Wall-clock seconds of REPEATS calls of FN after WARMUP untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summarize(times: Sequence[float]) -> dict[str, Any]:
    """Minimum, median and every run of a list of timings (seconds)."""
    return {"min_s": min(times), "median_s": statistics.median(times), "repeats": len(times),
            "runs_s": [round(t, 6) for t in times]}
