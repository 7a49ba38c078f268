"""Audio corpora for the batch tests: good clips and the bad files a corpus holds (empty, text, truncated)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def write_clips(folder: Path, n: int, seconds: float = 0.5, seed: int = 0) -> list[Path]:
    """N short noise-and-tone WAV clips of varied lengths and rates."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rate = (8000, 16000, 22050)[i % 3]
        length = int(rate * seconds * (1 + (i % 4) / 4))
        t = np.arange(length) / rate
        x = 0.1 * np.sin(2 * np.pi * (200 + 37 * i) * t) + 0.05 * rng.standard_normal(length)
        path = folder / f"clip{i:04d}.wav"
        sf.write(path, x.astype(np.float32), rate)
        out.append(path)
    return out


def write_bad_files(folder: Path) -> list[Path]:
    """An empty file, a text file and a truncated WAV (header only), each named .wav."""
    folder.mkdir(parents=True, exist_ok=True)
    empty, text, truncated = folder / "empty.wav", folder / "text.wav", folder / "truncated.wav"
    empty.write_bytes(b"")
    text.write_text("this is not audio\n")
    sf.write(truncated, np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16")
    truncated.write_bytes(truncated.read_bytes()[:40])
    return [empty, text, truncated]
