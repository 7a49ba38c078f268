"""Live streams: finals equal predict, results independent of block sizes, endpointing, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import phonedge
from phonedge.audio import load_audio
from phonedge.errors import InvalidAudioError, PhonedgeError, StreamClosedError, StreamRateError

RATE = 16000
REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def fsdd_stream(count: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """``count`` test utterances of several speakers with 0.5-1.5 s pauses; their sample spans."""
    rows = [line.split("\t") for line in (REFERENCE / "eval.tsv").read_text().splitlines()[1:]]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(rows), size=count, replace=False)
    parts, spans, at = [np.zeros(RATE // 2, np.float32)], [], RATE // 2
    for i in picks:
        x = load_audio(REFERENCE / rows[i][0], None, RATE, 400)
        pause = np.zeros(int(rng.uniform(0.5, 1.5) * RATE), np.float32)
        parts += [x, pause]
        spans.append((at, at + len(x)))
        at += len(x) + len(pause)
    return np.concatenate(parts), spans


def run(stream: phonedge.Stream, audio: np.ndarray, blocks: list[int], rate: int | None = None) -> list:
    events, at = [], 0
    for size in blocks:
        if at >= len(audio):
            break
        events += stream.accept(audio[at : at + size], rate)
        at += size
    if at < len(audio):
        events += stream.accept(audio[at:], rate)
    return events + stream.finish()


@pytest.fixture(scope="module")
def rec(reference_bundles: dict) -> phonedge.Recognizer:
    return phonedge.load(reference_bundles["int8"])


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, list[tuple[int, int]]]:
    return fsdd_stream(8)


@pytest.fixture(scope="module")
def reference_events(rec: phonedge.Recognizer, speech: tuple) -> list:
    audio, _ = speech
    return run(rec.stream(), audio, [len(audio)])


def test_finals_equal_predict_on_the_segment(rec: phonedge.Recognizer, speech: tuple, reference_events: list) -> None:
    audio, _ = speech
    finals = [e for e in reference_events if e.kind == "final"]
    assert finals
    for final in finals:
        pred = rec.predict(audio[final.start_sample : final.end_sample], RATE)
        offset = final.start_sample / RATE
        assert final.start == offset and final.end == final.end_sample / RATE
        assert final.text == pred.text
        assert final.tokens == [phonedge.Token(t.text, t.id, t.start + offset, t.end + offset, t.confidence)
                                for t in pred.tokens]
        assert final.label == pred.label and final.label_probs == pred.label_probs
        assert final.confidence == pred.confidence
        assert final.stable == final.tokens and final.tentative == []


def test_each_utterance_is_its_own_segment_with_the_offline_label(rec: phonedge.Recognizer, speech: tuple,
                                                                  reference_events: list) -> None:
    audio, spans = speech
    finals = [e for e in reference_events if e.kind == "final" and e.tokens]
    assert len(finals) == len(spans)
    for final, (start, stop) in zip(finals, spans):
        assert final.start_sample <= start + RATE // 10 and final.end_sample >= stop - RATE // 5
        assert final.label == rec.predict(audio[start:stop], RATE).label
        assert final.emitted_at >= final.end  # an event never comes before the audio it needs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_events_do_not_depend_on_block_sizes(rec: phonedge.Recognizer, speech: tuple, reference_events: list,
                                             seed: int) -> None:
    audio, _ = speech
    rng = np.random.default_rng(seed)
    blocks = rng.integers(RATE // 1000, 2 * RATE, size=len(audio) // 100).tolist()  # 1 ms .. 2 s
    if seed == 0:
        blocks = [1, 3, 7] + blocks
    assert [e.to_dict() for e in run(rec.stream(), audio, blocks)] == [e.to_dict() for e in reference_events]


def test_other_rates_and_integer_pcm_resample_the_same_whatever_the_blocks(rec: phonedge.Recognizer,
                                                                          speech: tuple) -> None:
    audio, _ = speech
    pcm = (audio[::2] * 32767).astype(np.int16)  # 8 kHz integer PCM
    whole = run(rec.stream(), pcm, [len(pcm)], 8000)
    rng = np.random.default_rng(3)
    cut = run(rec.stream(), pcm, rng.integers(8, 16000, size=2000).tolist(), 8000)
    assert [e.to_dict() for e in cut] == [e.to_dict() for e in whole]
    assert any(e.kind == "final" and e.text for e in whole)


def test_stable_tokens_never_change_within_a_segment(reference_events: list) -> None:
    stable: list = []
    checked = 0
    for event in reference_events:
        if event.kind == "final":
            stable = []
            continue
        assert event.tokens == event.stable + event.tentative
        assert event.tokens[: len(stable)] == stable
        checked += len(stable)
        stable = event.stable
    assert checked > 0


def test_segments_hug_the_utterances(rec: phonedge.Recognizer, speech: tuple, reference_events: list) -> None:
    audio, spans = speech
    finals = [e for e in reference_events if e.kind == "final" and e.tokens]
    # The pauses are digital silence: a segment starts one frame (the margin) before the first frame whose
    # field reaches the utterance, and ends one after the last one.
    field = 400 + 320
    assert len(finals) == len(spans)
    for final, (start, stop) in zip(finals, spans):
        assert start - field < final.start_sample and final.end_sample < stop + field
    # Without a gate, segments keep pre_speech_s before the first token, which falls inside the sound.
    ungated = [e for e in run(rec.stream(energy_gate_db=None), audio, [len(audio)]) if e.kind == "final" and e.tokens]
    assert sum(e.start_sample <= start - field for e, (start, _) in zip(ungated, spans)) >= len(spans) // 2


def tone_stream(noise_db: float | None = None) -> np.ndarray:
    """1 s of silence, 0.2 s of a -45 dBFS tone, 0.3 s at -20 dBFS, 0.1 s at -45 dBFS, 1 s of silence."""
    t = np.arange(int(2.6 * RATE)) / RATE
    level = np.zeros_like(t)
    level[RATE : int(1.6 * RATE)] = 10 ** (-45 / 20)
    level[int(1.2 * RATE) : int(1.5 * RATE)] = 10 ** (-20 / 20)
    x = level * np.sqrt(2) * np.sin(2 * np.pi * 440 * t)
    if noise_db is not None:
        x += np.random.default_rng(0).normal(0, 10 ** (noise_db / 20), len(t))
    return x.astype(np.float32)


def loud_vad(frame: np.ndarray, rate: int) -> bool:
    return bool(np.abs(frame).max() > 0.05)  # only the -20 dBFS part


def final_spans(events: list) -> list[tuple[int, int]]:
    return [(e.start_sample, e.end_sample) for e in events if e.kind == "final"]


def test_a_segment_starts_where_the_loud_run_starts(rec: phonedge.Recognizer) -> None:
    audio = tone_stream()
    # Speech (the VAD) from frame 60 (1.2 s) to 74; loud (above -50 dBFS) frames 50 (1.0 s) to 79.
    # Edges: one 20 ms frame of margin beyond the loud run; the last frame's field ends 80 samples later.
    assert final_spans(run(rec.stream(vad=loud_vad), audio, [len(audio)])) == [(49 * 320, 81 * 320 + 80)]
    # Without a gate: pre_speech_s (15 frames) before the first speech frame, post_speech_s after the last.
    assert final_spans(run(rec.stream(vad=loud_vad, energy_gate_db=None), audio, [len(audio)])) == \
        [(45 * 320, 90 * 320 + 80)]
    # A wider margin stays within those bounds.
    assert final_spans(run(rec.stream(vad=loud_vad, edge_margin_s=0.1), audio, [len(audio)])) == \
        [(45 * 320, 85 * 320 + 80)]


def test_noise_above_the_gate_keeps_the_pre_and_post_bounds(rec: phonedge.Recognizer) -> None:
    audio = tone_stream(noise_db=-45.0)  # every frame above the -50 dBFS gate: one loud run
    gated = run(rec.stream(vad=loud_vad), audio, [len(audio)])
    assert final_spans(gated) == [(45 * 320, 90 * 320 + 80)]
    assert [e.to_dict() for e in gated] == [e.to_dict() for e in run(rec.stream(vad=loud_vad, energy_gate_db=None),
                                                                      audio, [len(audio)])]


def test_without_a_gate_the_edge_margin_changes_nothing(rec: phonedge.Recognizer, speech: tuple) -> None:
    audio, _ = speech
    runs = [run(rec.stream(energy_gate_db=None, edge_margin_s=m), audio, [len(audio)]) for m in (0.0, 0.1)]
    assert any(e.kind == "final" for e in runs[0])
    assert [e.to_dict() for e in runs[0]] == [e.to_dict() for e in runs[1]]


def test_silence_and_quiet_noise_give_no_events(rec: phonedge.Recognizer) -> None:
    noise = np.random.default_rng(0).normal(0, 1e-4, 10 * RATE).astype(np.float32)  # -80 dBFS
    assert run(rec.stream(), noise, [4000]) == []
    assert run(rec.stream(), np.zeros(5 * RATE, np.float32), [4000]) == []


def test_max_segment_length_cuts_long_speech(rec: phonedge.Recognizer, speech: tuple) -> None:
    audio, _ = speech
    events = run(rec.stream(max_segment_s=0.6, endpoint_silence_s=3.0, post_speech_s=0.0), audio, [len(audio)])
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) > 1
    assert all(e.end_sample - e.start_sample <= 0.6 * RATE + 400 for e in finals)
    for a, b in zip(finals, finals[1:]):
        assert a.end_sample <= b.start_sample + 80  # segments never overlap by more than a frame's field


def test_vad_hook_decides_speech(rec: phonedge.Recognizer, speech: tuple) -> None:
    audio, _ = speech
    calls = []

    def never(frame: np.ndarray, rate: int) -> bool:
        calls.append((len(frame), rate))
        return False

    assert run(rec.stream(vad=never), audio, [len(audio)]) == []
    assert calls and set(calls) == {(320, RATE)}
    loud = run(rec.stream(vad=lambda frame, rate: bool(np.abs(frame).max() > 0.01)), audio, [len(audio)])
    assert sum(e.kind == "final" and bool(e.text) for e in loud) >= 1


def test_event_json(reference_events: list) -> None:
    final = next(e for e in reference_events if e.kind == "final")
    data = json.loads(final.to_json())
    assert data["kind"] == "final" and data["text"] == final.text and "label_probs" in data
    assert [t["id"] for t in data["tokens"]] == [t.id for t in final.tokens]
    assert data["emitted_at"] == round(final.emitted_at, 4)


def test_bad_input_gets_typed_errors(layer_bundle: Path) -> None:
    rec = phonedge.load(layer_bundle)
    stream = rec.stream()
    with pytest.raises(InvalidAudioError, match="NaN"):
        stream.accept(np.full(100, np.nan, np.float32))
    with pytest.raises(InvalidAudioError, match="zero samples"):
        stream.accept(np.zeros(0, np.float32))
    with pytest.raises(InvalidAudioError, match="dtype"):
        stream.accept(np.zeros(100, dtype=complex))
    stream.accept(np.zeros(100, np.float32), RATE)
    with pytest.raises(StreamRateError, match="8000 Hz"):
        stream.accept(np.zeros(100, np.float32), 8000)
    stream.finish()
    with pytest.raises(StreamClosedError):
        stream.accept(np.zeros(100, np.float32))
    with pytest.raises(StreamClosedError):
        stream.finish()
    stream.reset()
    assert stream.accept(np.zeros(100, np.float32), 8000) == [] and stream.sample_rate == 8000
    with pytest.raises(PhonedgeError, match="unknown stream option"):
        rec.stream(hop=1)
    with pytest.raises(PhonedgeError, match="post_speech_s"):
        rec.stream(post_speech_s=2.0, endpoint_silence_s=0.5)
    with pytest.raises(PhonedgeError, match="hop_s"):
        phonedge.StreamOptions(hop_s=0)
    with pytest.raises(PhonedgeError, match="edge_margin_s must be >= 0"):
        phonedge.StreamOptions(edge_margin_s=-0.02)


def test_a_stream_shorter_than_the_receptive_field_ends_quietly(layer_bundle: Path) -> None:
    stream = phonedge.load(layer_bundle).stream()
    assert stream.accept(np.zeros(10, np.float32)) == []
    assert stream.finish() == []
