"""Acoustic evidence of speech on the model's frame grid: loud frames, and tonal ones (tones, hum, chords).

A wav2vec2 phoneme model hears phonemes in sounds that hold none: on pure tones and chords the
reference model emits "th r iy" as confidently as on speech. Two facts of the waveform catch what the
model cannot: a frame quieter than ``SPEECH_GATE_DB`` is no speech, and a frame whose energy sits
almost all in a few spectral lines (``TONAL_LINES`` peaks holding ``TONAL_SHARE`` of it) is a tone,
not a voice (voiced speech spreads over many harmonics and noise: over the 3,000 FSDD recordings, tonal
frames hold at most 34% of a recording's loud energy; in tones, hum, chords and sweeps they hold all of it).
Counts merge, so evidence can be gathered block by block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .grid import FrameGrid

# Frames quieter than this RMS level (dBFS, over the frame's receptive field) are not speech; the stream's gate too.
SPEECH_GATE_DB = -50.0
TONAL_LINES = 4
TONAL_SHARE = 0.995
# Half-width, in bins of the 512-point spectrum (31 Hz at 16 kHz), of the band each spectral line is credited
# with. A 1024-point spectrum with 3 bins each side separated the same (FSDD: 0 of 3,000 recordings flagged,
# 24 of 24 tones, hums, chords and sweeps caught) at ten times the cost.
LINE_HALF_WIDTH = 1
FFT_SIZE = 512
_BLOCK_FRAMES = 512  # frames analysed at once: bounds the memory of long inputs


# Added to the mean square so that digital silence has a finite level (-120 dBFS).
_POWER_FLOOR = 1e-12


def frame_energy_db(x: NDArray[np.float32], frames: int, stride: int, receptive_field: int) -> NDArray[np.float64]:
    """RMS level in dBFS of each frame's receptive field (samples ``f*stride`` to ``f*stride+field``)."""
    squares = np.concatenate(([0.0], np.cumsum(np.square(x, dtype=np.float64))))
    starts = np.arange(frames) * stride
    power = (squares[starts + receptive_field] - squares[starts]) / receptive_field
    return 10.0 * np.log10(power + _POWER_FLOOR)


@dataclass(frozen=True)
class SpeechEvidence:
    """How many frames are loud enough to be speech, their summed energy, and the share of it in tonal frames."""

    loud_frames: int = 0
    loud_energy: float = 0.0
    tonal_energy: float = 0.0

    def merged(self, other: SpeechEvidence) -> SpeechEvidence:
        """The evidence of this audio followed by OTHER's."""
        return SpeechEvidence(self.loud_frames + other.loud_frames, self.loud_energy + other.loud_energy,
                              self.tonal_energy + other.tonal_energy)

    @property
    def silent(self) -> bool:
        """No frame reaches the speech gate."""
        return self.loud_frames == 0

    @property
    def tonal(self) -> bool:
        """Tonal frames hold at least half of the loud frames' energy (a tone, hum or chord rather than a voice).

        Weighing frames by energy keeps a quiet hum between words from outvoting the words.
        """
        return self.loud_frames > 0 and 2 * self.tonal_energy >= self.loud_energy


def speech_evidence(samples: NDArray[np.float32], grid: FrameGrid) -> SpeechEvidence:
    """Count the loud and the tonal frames of mono samples at the grid's rate."""
    frames = grid.frames_for(len(samples))
    loud, loud_energy, tonal_energy = 0, 0.0, 0.0
    window = np.hanning(grid.receptive_field).astype(np.float32)
    for first in range(0, frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, frames - first)
        start = first * grid.stride
        block = samples[start : start + grid.samples_for(count)]
        levels = frame_energy_db(block, count, grid.stride, grid.receptive_field)
        is_loud = levels >= SPEECH_GATE_DB
        if not is_loud.any():
            continue
        at = np.flatnonzero(is_loud)[:, None] * grid.stride + np.arange(grid.receptive_field)[None, :]
        energy = np.power(10.0, levels[is_loud] / 10.0)
        loud += len(at)
        loud_energy += float(energy.sum())
        tonal_energy += float(energy[_line_share(block[at] * window) >= TONAL_SHARE].sum())
    return SpeechEvidence(loud, loud_energy, tonal_energy)


# Above this magnitude a frame's float32 spectrum may overflow (FFT_SIZE samples at once).
HUGE_SAMPLE = 1e30


def _line_share(frames: NDArray[np.float32]) -> NDArray[np.float64]:
    """Per frame, the share of its energy in the TONAL_LINES strongest spectral lines."""
    peak = np.abs(frames).max(initial=0.0)
    if peak > HUGE_SAMPLE:  # a float32 spectrum would overflow; the share does not depend on the scale
        frames = frames / peak
    power = np.abs(np.fft.rfft(frames, n=FFT_SIZE, axis=1)).astype(np.float64) ** 2
    total = power.sum(axis=1) + 1e-30
    taken = np.zeros(len(power))
    rows = np.arange(len(power))
    for _ in range(TONAL_LINES):
        peak = power.argmax(axis=1)
        for offset in range(-LINE_HALF_WIDTH, LINE_HALF_WIDTH + 1):
            col = np.clip(peak + offset, 0, power.shape[1] - 1)
            taken += power[rows, col]
            power[rows, col] = 0.0
    return taken / total
