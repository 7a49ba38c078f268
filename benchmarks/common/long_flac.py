"""Hours-long 48 kHz stereo FLACs made of one repeated minute: input of the long-file and serve-limit benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks.common.paths import FSDD

RATE = 48000


def speech_minute(seed: int = 0) -> np.ndarray:
    """One minute at 48 kHz, stereo: 20 s silence, 10 s quiet noise, 30 s of FSDD speech."""
    import soundfile as sf
    import soxr

    rng = np.random.default_rng(seed)
    files = sorted((FSDD / "recordings").glob("*_[0-4].wav"))[:200]
    speech = np.concatenate([sf.read(p, dtype="float32")[0] for p in files])[: 30 * 8000]
    parts = [np.zeros(20 * RATE, np.float32), rng.normal(0, 0.003, 10 * RATE).astype(np.float32),
             soxr.resample(speech, 8000, RATE).astype(np.float32)]
    mono = np.concatenate(parts)[: 60 * RATE]
    return np.stack([mono, 0.8 * mono], axis=1)


def quiet_minute(seed: int = 0) -> np.ndarray:
    """One minute at 48 kHz, stereo: a second of quiet noise, then silence."""
    minute = np.zeros((60 * RATE, 2), np.float32)
    minute[:RATE] = np.random.default_rng(seed).normal(0, 0.01, (RATE, 2))
    return minute


def repeated_flac(path: Path, minutes: int, minute: Callable[[], np.ndarray]) -> Path:
    """A 16-bit FLAC of MINUTES copies of the minute MINUTE() makes (written once, then reused)."""
    import soundfile as sf

    if path.is_file():
        return path
    one = minute()
    tmp = path.with_suffix(".part")
    with sf.SoundFile(tmp, "w", RATE, 2, format="FLAC", subtype="PCM_16") as f:
        for _ in range(minutes):
            f.write(one)
    tmp.rename(path)
    return path
