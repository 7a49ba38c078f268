"""Speech detectors: the energy gate, Silero VAD's ONNX file (optional), a user's function; block-size invariance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import phonedge
from phonedge import vad
from phonedge.audio import prepare_audio
from phonedge.errors import MissingExtraError, PhonedgeError
from phonedge.grid import FrameGrid
from phonedge.speech import frame_energy_db

RATE = 16000
GRID = FrameGrid(RATE, 320, 400)
REFERENCE = Path(__file__).resolve().parents[1] / "reference"
needs_silero = pytest.mark.skipif(not vad.vad_available(),
                                  reason="silero-vad not installed (pip install --no-deps silero-vad)")


def utterance_with_pauses() -> np.ndarray:
    x = prepare_audio(REFERENCE / "audio" / "0_jackson_0.wav", None, RATE, 400)
    gap = np.zeros(RATE // 2, np.float32)
    return np.concatenate([gap, x, gap, x * 0.05, gap])


def decide(detector: vad.SpeechDetector, audio: np.ndarray, blocks: list[int]) -> np.ndarray:
    out, at = [], 0
    for size in blocks:
        if at >= len(audio):
            break
        out.append(detector.push(audio[at : at + size]))
        at += size
    if at < len(audio):
        out.append(detector.push(audio[at:]))
    out.append(detector.flush(GRID.frames_for(len(audio))))
    return np.concatenate(out)


def kinds() -> list[str]:
    return ["energy", "callable"] + (["silero"] if vad.vad_available() else [])


def make(kind: str) -> vad.SpeechDetector:
    if kind == "callable":
        return vad.make_detector("auto", GRID, -50.0, lambda frame, rate: bool(np.abs(frame).max() > 0.01))
    return vad.make_detector(kind, GRID, -50.0)


@pytest.mark.parametrize("kind", kinds())
def test_every_frame_is_decided_once_whatever_the_blocks(kind: str) -> None:
    audio = utterance_with_pauses()
    whole = decide(make(kind), audio, [len(audio)])
    assert len(whole) == GRID.frames_for(len(audio))
    assert whole.any() and not whole.all()
    rng = np.random.default_rng(0)
    for trial in range(20):  # a property over random block sizes, 1 sample to 0.5 s
        blocks = rng.integers(1, [2, 50, 8000][trial % 3] + 1, size=len(audio)).tolist()
        assert np.array_equal(decide(make(kind), audio, blocks), whole), trial


def test_the_energy_detector_is_the_gate_on_each_frames_field() -> None:
    audio = utterance_with_pauses()
    frames = GRID.frames_for(len(audio))
    levels = frame_energy_db(audio, frames, 320, 400)
    assert np.array_equal(decide(make("energy"), audio, [1600] * 1000), levels >= -50.0)
    detector = make("energy")
    assert detector.needed(10) == 10 * 320 + 400


@needs_silero
def test_silero_hears_speech_not_silence_or_tones() -> None:
    audio = utterance_with_pauses()
    said = decide(vad.make_detector("silero", GRID, None), audio, [512] * 1000)
    first = RATE // 2 // 320
    assert not said[: first - 2].any()  # the leading silence
    assert said[first : first + 80].sum() >= 10  # the utterance
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * RATE) / RATE)).astype(np.float32)
    assert decide(vad.make_detector("silero", GRID, None), tone, [1600] * 40).mean() < 0.2
    detector = vad.make_detector("silero", GRID, None)
    # Frame 2's centre (840) is in chunk 1 (ends at 1024), its field ends at 1040.
    assert detector.needed(0) == 512 and detector.needed(2) == 1040


@needs_silero
def test_auto_prefers_silero_when_installed_and_the_gate_still_applies() -> None:
    assert isinstance(vad.make_detector("auto", GRID, -50.0), vad.SileroDetector)
    audio = utterance_with_pauses()
    gated = decide(vad.make_detector("silero", GRID, -20.0), audio, [len(audio)])
    loud = frame_energy_db(audio, len(gated), 320, 400) >= -20.0
    assert not (gated & ~loud).any()


def test_without_the_vad_package_auto_falls_back_to_energy(monkeypatch: pytest.MonkeyPatch,
                                                           reference_bundles: dict) -> None:
    monkeypatch.setattr(vad, "silero_model_path", lambda: None)
    assert isinstance(vad.make_detector("auto", GRID, -50.0), vad.EnergyDetector)
    with pytest.raises(MissingExtraError, match="no-deps silero-vad"):
        vad.make_detector("silero", GRID, -50.0)
    rec = phonedge.load(reference_bundles["int8"])
    assert rec.stream().detector == "energy"
    with pytest.raises(MissingExtraError):
        rec.stream(detector="silero")


def test_bad_detector_settings_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PhonedgeError, match="unknown detector"):
        vad.make_detector("webrtc", GRID, -50.0)
    with pytest.raises(PhonedgeError, match="energy_gate_db"):
        vad.make_detector("energy", GRID, None)
    with pytest.raises(PhonedgeError, match="not found"):
        vad.make_detector("silero", GRID, -50.0, model=tmp_path / "missing.onnx")
    with pytest.raises(PhonedgeError, match="8000 or 16000"):
        vad.make_detector("silero", FrameGrid(22050, 441, 551), -50.0, model=tmp_path / "missing.onnx")
    with pytest.raises(PhonedgeError, match="detector must be one of"):
        phonedge.StreamOptions(detector="webrtc")
