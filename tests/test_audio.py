"""Audio decoding, down-mixing, resampling and every bad-input error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from phonedge.audio import as_mono_float32, decode_file, prepare_audio, resample
from phonedge.errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioTooShortError,
    InvalidAudioError,
)

RATE = 16000


def tone(rate: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_wav_widths_rates_channels(tmp_path: Path, subtype: str, rate: int, channels: int) -> None:
    x = tone(rate)
    data = np.stack([x] * channels, axis=1)
    path = tmp_path / f"a_{subtype}_{rate}_{channels}.wav"
    sf.write(path, data, rate, subtype=subtype)
    out = prepare_audio(path, None, RATE, 400)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - RATE * 0.5) <= 1
    tol = 0.02 if subtype == "PCM_U8" else 2e-3
    np.testing.assert_allclose(out[200:-200], tone(RATE)[200:-200], atol=tol)


@pytest.mark.parametrize("fmt,subtype,tol", [("FLAC", "PCM_16", 2e-3), ("OGG", "VORBIS", 0.05), ("MP3", "MPEG_LAYER_III", 0.1)])
def test_compressed_formats(tmp_path: Path, fmt: str, subtype: str, tol: float) -> None:
    if fmt not in sf.available_formats():
        pytest.skip(f"libsndfile here lacks {fmt}")
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, tone(RATE, 1.0), RATE, format=fmt, subtype=subtype)
    out = prepare_audio(path, None, RATE, 400)
    assert abs(len(out) - RATE) < RATE * 0.1  # MP3 may add encoder delay
    ref = tone(RATE, 1.0)
    n = min(len(ref), len(out))
    # Compare the spectra: codecs shift phase, the tone stays at 440 Hz.
    peak = np.argmax(np.abs(np.fft.rfft(out[:n]))) * RATE / n
    assert abs(peak - 440) < 5
    assert np.sqrt(np.mean(out[:n] ** 2)) == pytest.approx(np.sqrt(np.mean(ref ** 2)), rel=tol * 3)


def test_resampler_is_anti_aliased() -> None:
    rate = 44100
    alias = tone(rate, 1.0, freq=10000.0)  # above the 8 kHz Nyquist of 16 kHz audio
    out = resample(alias, rate, RATE)
    assert np.sqrt(np.mean(out[1000:-1000] ** 2)) < 1e-3 * np.sqrt(np.mean(alias ** 2))
    kept = resample(tone(rate, 1.0, freq=3000.0), rate, RATE)
    assert np.sqrt(np.mean(kept[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_array_input_with_rate_is_resampled() -> None:
    out = prepare_audio(tone(8000), 8000, RATE, 400)
    assert len(out) == 8000


def test_int16_array_is_scaled() -> None:
    x = (tone(RATE) * 32767).astype(np.int16)
    np.testing.assert_allclose(as_mono_float32(x), tone(RATE), atol=1e-4)


def test_uint8_array_is_centred() -> None:
    x = np.array([0, 128, 255], dtype=np.uint8)
    np.testing.assert_allclose(as_mono_float32(x), [-1.0, 0.0, 127 / 128])


def test_stereo_array_is_downmixed() -> None:
    left, right = tone(RATE), np.zeros(RATE // 2, np.float32)
    out = as_mono_float32(np.stack([left, right], axis=1))
    np.testing.assert_allclose(out, left / 2)


# -- every bad input has its own error -----------------------------------------------------------

def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(AudioFileNotFoundError, match="not found") as info:
        decode_file(tmp_path / "nope.wav")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="is a folder"):
        decode_file(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty file"):
        decode_file(p)


def test_text_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioDecodeError, match="cannot decode"):
        decode_file(p)


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "noise.bin"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AudioDecodeError, match="cannot decode"):
        decode_file(p)


def test_truncated_file(tmp_path: Path) -> None:
    p = tmp_path / "cut.wav"
    sf.write(p, tone(RATE), RATE, subtype="PCM_16")
    p.write_bytes(p.read_bytes()[:40])  # the header survives, the samples do not
    with pytest.raises(AudioDecodeError):
        decode_file(p)


def test_zero_samples_file(tmp_path: Path) -> None:
    p = tmp_path / "zero.wav"
    sf.write(p, np.zeros(0, np.float32), RATE, subtype="PCM_16")
    with pytest.raises(AudioDecodeError, match="no samples"):
        decode_file(p)


def test_zero_samples_array() -> None:
    with pytest.raises(InvalidAudioError, match="zero samples"):
        prepare_audio(np.zeros(0, np.float32), RATE, RATE, 400)


def test_too_short_is_refused() -> None:
    with pytest.raises(AudioTooShortError, match="receptive field of 400 samples"):
        prepare_audio(np.ones(399, np.float32), RATE, RATE, 400)
    assert len(prepare_audio(np.ones(400, np.float32), RATE, RATE, 400)) == 400


def test_too_short_after_resampling() -> None:
    with pytest.raises(AudioTooShortError):
        prepare_audio(np.ones(150, np.float32), 8000, RATE, 400)  # 150 samples at 8 kHz -> 300 at 16 kHz


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(bad: float) -> None:
    x = tone(RATE)
    x[100] = bad
    with pytest.raises(InvalidAudioError, match="NaN or infinite"):
        prepare_audio(x, RATE, RATE, 400)


def test_array_without_rate() -> None:
    with pytest.raises(InvalidAudioError, match="needs its sample rate"):
        prepare_audio(tone(RATE), None, RATE, 400)


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, True])
def test_bad_sample_rate(rate: object) -> None:
    with pytest.raises(InvalidAudioError, match="sample_rate"):
        prepare_audio(tone(RATE), rate, RATE, 400)  # type: ignore[arg-type]


def test_rate_given_for_a_path(tmp_path: Path) -> None:
    p = tmp_path / "a.wav"
    sf.write(p, tone(RATE), RATE)
    with pytest.raises(InvalidAudioError, match="only for arrays"):
        prepare_audio(p, RATE, RATE, 400)


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.array(["a", "b"]), "dtype"),
        (np.zeros((2, 3, 4), np.float32), "shape"),
        (np.zeros((2, 8000), np.float32), "channels, frames"),
        ([0.1, 0.2, 0.3], "numpy array"),
        (np.array([1 + 2j]), "dtype"),
    ],
)
def test_wrong_dtype_or_shape(bad: object, match: str) -> None:
    with pytest.raises(InvalidAudioError, match=match):
        as_mono_float32(bad)


def test_errors_are_value_errors() -> None:
    assert issubclass(AudioError, ValueError)


def test_huge_finite_channels_mix_without_overflow() -> None:
    """Two finite channels near float32's limit: their float32 sum overflows, their mean does not."""
    import warnings

    from phonedge.audio import mono

    x = np.full((100, 2), 3e38, dtype=np.float32)
    x[::2, 1] = -1e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mixed = mono(x)
    assert np.isfinite(mixed).all()
    np.testing.assert_array_equal(mixed, x.astype(np.float64).mean(axis=1).astype(np.float32))
