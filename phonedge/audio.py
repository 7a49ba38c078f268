"""Audio in: decode files with libsndfile, validate arrays, down-mix and resample with soxr."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Union

import numpy as np
from numpy.typing import NDArray

from .deprecation import renamed_attributes
from .errors import AudioDecodeError, AudioFileNotFoundError, AudioTooShortError, InvalidAudioError

PathLike = Union[str, "os.PathLike[str]"]

# What a folder walk picks up as audio: the containers libsndfile decodes.
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".opus", ".aif", ".aiff", ".au", ".w64", ".caf"})

# soxr's "VHQ" recipe: the quality libsoxr calls very high (passband to ~95% of Nyquist, >170 dB stopband).
RESAMPLE_QUALITY = "VHQ"


def decode_file(path: PathLike) -> tuple[NDArray[np.float32], int]:
    """Decode an audio file into float32 samples of shape (frames, channels) and its sample rate."""
    p = check_file(path)
    return _decode(str(p), str(p))


def check_file(path: PathLike) -> Path:
    """The path, once it is known to name a non-empty file (AudioFileNotFoundError, AudioDecodeError otherwise)."""
    p = Path(path)
    if not p.exists():
        raise AudioFileNotFoundError(f"audio file not found: {p}")
    if p.is_dir():
        raise AudioDecodeError(f"{p} is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise AudioDecodeError(f"{p} is an empty file (0 bytes), not audio")
    return p


def decode_audio_bytes(data: bytes, where: str = "audio") -> tuple[NDArray[np.float32], int]:
    """Decode an encoded audio file held in memory (e.g. an upload) like :func:`decode_file` decodes a path."""
    if not data:
        raise AudioDecodeError(f"{where} is empty (0 bytes), not audio")
    return _decode(io.BytesIO(data), where)


def _decode(source: object, where: str) -> tuple[NDArray[np.float32], int]:
    import soundfile as sf

    with decode_errors(where):
        samples, rate = sf.read(source, dtype="float32", always_2d=True)
    if samples.size == 0:
        raise AudioDecodeError(no_samples(where))
    return samples, int(rate)


def no_samples(where: str) -> str:
    """The message for a file that decodes to no samples."""
    return f"{where} holds no samples (a header without audio, or a truncated file)"


@contextmanager
def decode_errors(where: str) -> Iterator[None]:
    """Turn libsndfile's errors (opening or reading) into AudioDecodeError naming ``where``."""
    import soundfile as sf

    try:
        yield
    except sf.LibsndfileError as exc:
        raise AudioDecodeError(
            f"cannot decode {where} as audio: {exc.error_string} (formats read: WAV, FLAC, OGG, MP3, ...)"
        ) from exc
    except (RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise AudioDecodeError(f"cannot decode {where} as audio: {exc}") from exc


def find_audio(folder: PathLike) -> list[Path]:
    """Audio files under FOLDER (recursively, by suffix, in path order)."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def as_mono_float32(samples: object, where: str = "audio") -> NDArray[np.float32]:
    """Check an array of samples and return it as 1-D float32, down-mixing channels by their mean.

    Accepts shape (n,), or (n, channels) with at most 16 channels, of float or integer PCM dtype
    (integers are scaled to [-1, 1) by their full range).
    """
    if not isinstance(samples, np.ndarray):
        raise InvalidAudioError(f"{where}: expected a numpy array of samples, got {type(samples).__name__}")
    if samples.dtype.kind == "f":
        x = samples.astype(np.float32, copy=False)
    elif samples.dtype.kind in "iu":
        info = np.iinfo(samples.dtype)
        scale = float(info.max) + 1.0
        offset = 0.0 if samples.dtype.kind == "i" else scale / 2
        x = ((samples.astype(np.float64) - offset) / (scale if offset == 0.0 else offset)).astype(np.float32)
    else:
        raise InvalidAudioError(
            f"{where}: samples must be a float or integer PCM array, got dtype {samples.dtype}"
        )
    if x.ndim == 2:
        if x.shape[1] > 16 and x.shape[0] <= 16:
            raise InvalidAudioError(
                f"{where}: shape {x.shape} looks like (channels, frames); pass (frames, channels), e.g. audio.T"
            )
    elif x.ndim != 1:
        raise InvalidAudioError(f"{where}: expected shape (frames,) or (frames, channels), got {x.shape}")
    return mono(x, where)


def mono(x: NDArray[np.float32], where: str = "audio") -> NDArray[np.float32]:
    """Down-mix float32 (frames[, channels]) samples to 1-D by the channel mean; refuse empty or non-finite."""
    if x.ndim == 2 and x.shape[1] > 1:
        with np.errstate(over="ignore"):
            mixed = x.mean(axis=1, dtype=np.float32)
        if not np.isfinite(mixed).all() and np.isfinite(x).all():  # finite channels whose float32 sum overflows
            mixed = x.mean(axis=1, dtype=np.float64).astype(np.float32)
        x = mixed
    elif x.ndim == 2:
        x = x[:, 0]
    if x.size == 0:
        raise InvalidAudioError(f"{where}: zero samples")
    if not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise InvalidAudioError(f"{where}: {bad} samples are NaN or infinite; clean the signal first")
    return np.ascontiguousarray(x)


def resample(x: NDArray[np.float32], rate: int, target_rate: int) -> NDArray[np.float32]:
    """Anti-aliased resampling with soxr (a no-op at the target rate)."""
    if rate == target_rate:
        return x
    import soxr

    return soxr.resample(x, rate, target_rate, quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def check_sample_rate(sample_rate: object) -> None:
    """Raise InvalidAudioError unless ``sample_rate`` is a positive integer (Hz)."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise InvalidAudioError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")


def prepare_audio(
    audio: PathLike | NDArray[np.generic],
    sample_rate: int | None,
    target_rate: int,
    min_samples: int,
) -> NDArray[np.float32]:
    """Turn a path, or an array with its sample rate, into mono float32 at ``target_rate``."""
    samples: object
    if isinstance(audio, (str, os.PathLike)):
        if sample_rate is not None:
            raise InvalidAudioError("sample_rate is only for arrays: a file carries its own rate")
        samples, rate = decode_file(audio)
        where = str(audio)
    else:
        if sample_rate is None:
            raise InvalidAudioError(
                "an array needs its sample rate: predict(samples, sample_rate=16000)"
            )
        check_sample_rate(sample_rate)
        samples, rate, where = audio, int(sample_rate), "audio array"
    x = resample(as_mono_float32(samples, where), rate, target_rate)
    check_length(len(x), where, target_rate, min_samples)
    return x


def check_length(n_samples: int, where: str, rate: int, min_samples: int) -> None:
    """Raise AudioTooShortError when ``n_samples`` at ``rate`` are fewer than the model's receptive field."""
    if n_samples < min_samples:
        raise AudioTooShortError(
            f"{where}: {n_samples / rate * 1000:.1f} ms of audio is shorter than the model's receptive field "
            f"of {min_samples} samples ({min_samples / rate * 1000:.0f} ms); it is refused, not padded"
        )


__getattr__ = renamed_attributes(__name__, {"read_audio": "decode_file", "load_audio": "prepare_audio"})
