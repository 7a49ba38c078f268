"""Inputs for the parity check: the user's own audio, or a fixed set of generated signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from phonedge.audio import AUDIO_SUFFIXES, find_audio
from phonedge.errors import ExportError
from phonedge.features import normalize

GENERATED_COUNT = 8
GENERATED_SEED = 20240611
MAX_SECONDS = 30.0  # self-attention memory grows with the square of the length; parity needs no more


def generated_signals(
    sample_rate: int, do_normalize: bool = True, count: int = GENERATED_COUNT, seed: int = GENERATED_SEED
) -> list[NDArray[np.float32]]:
    """COUNT deterministic 0.5-3 s signals (chirps, tones in noise, noise bursts), normalised like model input."""
    rng = np.random.default_rng(seed)
    kinds = (_chirp, _tones_in_noise, _noise_bursts, _modulated_noise)
    signals = []
    for index in range(count):
        seconds = 0.5 + 2.5 * index / max(count - 1, 1)
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        raw = kinds[index % len(kinds)](t, rng)
        signals.append(normalize(raw, do_normalize))
    return signals


def _chirp(t: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    low, high = rng.uniform(80, 300), rng.uniform(2_000, 6_000)
    rate = (high - low) / t[-1]
    return np.sin(2 * np.pi * (low * t + rate * t**2 / 2)) + 0.01 * rng.standard_normal(t.size)


def _tones_in_noise(t: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    pitch = rng.uniform(100, 250)
    voiced = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 8))
    return voiced + 0.3 * rng.standard_normal(t.size)


def _noise_bursts(t: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    gate = (np.sin(2 * np.pi * rng.uniform(2, 5) * t) > 0.3).astype(np.float64)
    return gate * rng.standard_normal(t.size) + 0.01 * rng.standard_normal(t.size)


def _modulated_noise(t: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 8) * t)
    carrier = np.sin(2 * np.pi * rng.uniform(300, 900) * t)
    return envelope * (carrier + 0.5 * rng.standard_normal(t.size))


def calibration_files(folder: Path) -> list[Path]:
    """Audio files under FOLDER (recursively, in path order)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"calibration audio folder not found: {folder} (give a folder of audio files)")
    files = find_audio(folder)
    if not files:
        raise ExportError(f"{folder}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) for the parity check")
    return files


def load_calibration_audio(
    folder: Path, sample_rate: int, do_normalize: bool = True, min_samples: int = 1
) -> list[NDArray[np.float32]]:
    """Every audio file under FOLDER (its first 30 s), read exactly as the runtime reads it, normalised."""
    from phonedge.audio import prepare_audio
    from phonedge.errors import AudioError

    signals = []
    for path in calibration_files(folder):
        try:
            samples = prepare_audio(path, None, sample_rate, min_samples)
        except AudioError as exc:
            raise ExportError(f"cannot use this calibration audio file: {exc}; remove or convert it") from exc
        signals.append(normalize(samples[: int(MAX_SECONDS * sample_rate)], do_normalize))
    return signals
