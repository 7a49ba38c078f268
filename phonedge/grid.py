"""The model's output frame grid: how many frames a number of samples gives, and where each frame lies."""

from __future__ import annotations

from dataclasses import dataclass

from .manifest import AudioSpec


def frame_count(n_samples: int, stride: int, receptive_field: int) -> int:
    """Output frames of the conv feature encoder for ``n_samples`` samples (0 when shorter than one field)."""
    return max(0, (n_samples - receptive_field) // stride + 1)


@dataclass(frozen=True)
class FrameGrid:
    """One frame every ``stride`` samples at ``sample_rate``, each seeing ``receptive_field`` samples."""

    sample_rate: int
    stride: int
    receptive_field: int

    @classmethod
    def from_audio(cls, audio: AudioSpec) -> FrameGrid:
        """The grid of a bundle's audio settings."""
        return cls(audio.sample_rate, audio.frame_stride, audio.receptive_field)

    @property
    def step(self) -> float:
        """Seconds from one frame to the next."""
        return self.stride / self.sample_rate

    def frames_for(self, n_samples: int) -> int:
        """Output frames for ``n_samples`` samples."""
        return frame_count(n_samples, self.stride, self.receptive_field)

    def samples_for(self, n_frames: int) -> int:
        """The fewest samples that give ``n_frames`` frames (from a frame boundary)."""
        return n_frames * self.stride + self.receptive_field - self.stride if n_frames > 0 else 0
