"""Live streams: finals equal predict, results independent of block sizes, endpointing, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import phonedge
from phonedge.audio import prepare_audio
from phonedge.errors import InvalidAudioError, PhonedgeError, StreamClosedError, StreamRateError
from phonedge.speech import frame_energy_db

RATE = 16000
PRE = round(phonedge.StreamOptions().pre_speech_s / 0.02)  # the default margins in 20 ms frames
POST = round(phonedge.StreamOptions().post_speech_s / 0.02)
REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def fsdd_stream(count: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """``count`` test utterances of several speakers with 0.5-1.5 s pauses; their sample spans."""
    rows = [line.split("\t") for line in (REFERENCE / "eval.tsv").read_text().splitlines()[1:]]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(rows), size=count, replace=False)
    parts, spans, at = [np.zeros(RATE // 2, np.float32)], [], RATE // 2
    for i in picks:
        x = prepare_audio(REFERENCE / rows[i][0], None, RATE, 400)
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


def test_aligned_finals_carry_predicts_alignment_in_stream_time(rec: phonedge.Recognizer, speech: tuple,
                                                                reference_events: list) -> None:
    audio, _ = speech
    rng = np.random.default_rng(3)
    events = run(rec.stream(align=True), audio, rng.integers(RATE // 100, RATE, size=len(audio) // 100).tolist())
    assert [e.to_dict() for e in events if e.kind == "partial"] == \
        [e.to_dict() for e in reference_events if e.kind == "partial"]
    finals = [e for e in events if e.kind == "final"]
    assert sum(e.alignment is not None for e in finals) >= 6
    for final, plain in zip(finals, [e for e in reference_events if e.kind == "final"]):
        assert {k: v for k, v in final.to_dict().items() if k != "alignment"} == plain.to_dict()
        pred = rec.predict(audio[final.start_sample : final.end_sample], RATE, align=True)
        if pred.alignment is None:
            assert final.alignment is None and "alignment" not in final.to_dict()
            continue
        offset, frames = final.start_sample / RATE, final.start_sample // rec.decoding.grid.stride
        assert final.alignment == pred.alignment.shifted(offset, frames)
        assert final.alignment.units[0].start == pytest.approx(pred.alignment.units[0].start + offset)


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


def test_stable_tokens_never_change_within_a_segment(rec: phonedge.Recognizer, speech: tuple) -> None:
    audio, spans = speech
    # Three utterances 0.1 s apart (less than the endpoint's silence): one long segment, several partials.
    gap = np.zeros(RATE // 10, np.float32)
    joined = np.concatenate([*[np.concatenate([audio[a:b], gap]) for a, b in spans[:3]]])
    events = run(rec.stream(), np.concatenate([np.zeros(RATE, np.float32), joined, np.zeros(RATE, np.float32)]),
                 [1600] * 1000)
    stable: list = []
    checked = 0
    for event in events:
        if event.kind == "final":
            stable = []
            continue
        assert event.tokens == event.stable + event.tentative
        assert event.tokens[: len(stable)] == stable
        checked += len(stable)
        stable = event.stable
    assert checked > 0
    # The final computed in the first 0.1 s gap was dropped when speech came back: this one covers all three.
    (final,) = [e for e in events if e.kind == "final" and e.text]
    assert final.start_sample < RATE and final.end_sample > RATE + len(joined) - RATE // 5
    whole = np.concatenate([np.zeros(RATE, np.float32), joined, np.zeros(RATE, np.float32)])
    assert final.text == rec.predict(whole[final.start_sample : final.end_sample], RATE).text


def test_segments_keep_fixed_margins_around_the_speech(rec: phonedge.Recognizer, speech: tuple) -> None:
    audio, spans = speech
    finals = [e for e in run(rec.stream(detector="energy"), audio, [len(audio)]) if e.kind == "final"]
    loud = np.flatnonzero(frame_energy_db(audio, (len(audio) - 400) // 320 + 1, 320, 400) >= -50.0)
    assert len(finals) == len(spans)
    for final, (start, stop) in zip(finals, spans):
        # The pauses are digital silence: an utterance's speech frames are its loud ones; PRE frames kept
        # before, POST after.
        inside = loud[(loud * 320 + 400 > start) & (loud * 320 < stop)]
        first, last = int(inside[0]), int(inside[-1])
        assert (final.start_sample, final.end_sample) == ((first - PRE) * 320, (last + 1 + POST) * 320 + 80)


def tone_stream(tail_db: float = -45.0) -> np.ndarray:
    """1 s of silence, 0.3 s of a -20 dBFS tone, 0.06 s at TAIL_DB (a quiet ending), 1 s of silence."""
    t = np.arange(int(2.36 * RATE)) / RATE
    level = np.zeros_like(t)
    level[RATE : int(1.3 * RATE)] = 10 ** (-20 / 20)
    level[int(1.3 * RATE) : int(1.36 * RATE)] = 10 ** (tail_db / 20)
    return (level * np.sqrt(2) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def loud_vad(frame: np.ndarray, rate: int) -> bool:
    return bool(np.abs(frame).max() > 0.05)  # only the -20 dBFS part


def final_spans(events: list) -> list[tuple[int, int]]:
    return [(e.start_sample, e.end_sample) for e in events if e.kind == "final"]


def test_quiet_endings_the_detector_misses_are_kept(rec: phonedge.Recognizer) -> None:
    audio = tone_stream()
    # The VAD hears frames 50-64 (the last whose stride is loud); the quiet tail runs to 1.36 s (frame 68).
    spans = final_spans(run(rec.stream(vad=loud_vad), audio, [len(audio)]))
    (start, end), = spans
    assert start == (50 - PRE) * 320  # pre_speech_s: PRE frames before the first speech frame
    assert end == (64 + 1 + POST) * 320 + 80  # post_speech_s: POST frames after the last one, and a frame's field
    assert end >= int(1.36 * RATE)  # the quiet ending is inside the segment
    # A longer post margin keeps more; the segment still closes after endpoint_silence_s.
    longer = final_spans(run(rec.stream(vad=loud_vad, post_speech_s=0.2), audio, [len(audio)]))
    assert longer == [(start, end + 5 * 320)]


def test_the_energy_detector_follows_the_gate(rec: phonedge.Recognizer) -> None:
    audio = tone_stream(tail_db=-60.0)  # the tail is below the -50 dBFS gate
    spans = final_spans(run(rec.stream(detector="energy"), audio, [len(audio)]))
    assert len(spans) == 1
    # Loud frames 49 (its field reaches the tone's first 80 samples) to 64 (the tail is below the gate).
    assert spans == [((49 - PRE) * 320, (64 + 1 + POST) * 320 + 80)]
    assert final_spans(run(rec.stream(detector="energy", energy_gate_db=-10.0), audio, [len(audio)])) == []


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
    with pytest.raises(PhonedgeError, match="pre_speech_s must be >= 0"):
        phonedge.StreamOptions(pre_speech_s=-0.02)


def test_a_stream_shorter_than_the_receptive_field_ends_quietly(layer_bundle: Path) -> None:
    stream = phonedge.load(layer_bundle).stream()
    assert stream.accept(np.zeros(10, np.float32)) == []
    assert stream.finish() == []


class CountingEngine:
    """A recogniser whose whole-segment decodes (finals) are counted."""

    def __init__(self, rec: phonedge.Recognizer) -> None:
        self.rec, self.decoding, self.finals, self.windows = rec, rec.decoding, 0, 0

    def window_logits(self, window: np.ndarray) -> np.ndarray:
        self.windows += 1
        return self.rec.window_logits(window)

    def logits(self, samples: np.ndarray) -> np.ndarray:
        self.finals += 1
        return self.rec.logits(samples)


def test_a_final_is_computed_once_its_samples_are_in_and_dropped_when_speech_resumes(layer_bundle: Path) -> None:
    rec = phonedge.load(layer_bundle)
    audio = tone_stream(tail_db=-20.0)
    audio[int(1.1 * RATE) : int(1.24 * RATE)] = 0.0  # 140 ms: longer than post_speech_s, shorter than the endpoint
    engine = CountingEngine(rec)
    stream = phonedge.Stream(engine, rec.stream(vad=loud_vad).options)
    events = run(stream, audio, [320] * 1000)
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 1 and engine.finals == 2  # one computed in the gap, dropped when the tone came back
    # Emitted when the endpoint confirms it (12 frames after the last speech frame, its field in), however early
    # it was computed; its segment ended POST frames (and a field's 80 samples) after that speech frame.
    assert finals[0].emitted_at == pytest.approx(finals[0].end + (12 - POST) * 0.02)
    assert stream.detector == "callable" and engine.windows >= 1
    # Finals only: the model runs once per segment, and silence never reaches it.
    quiet = CountingEngine(rec)
    run(phonedge.Stream(quiet, rec.stream(vad=loud_vad, partials=False).options), audio, [len(audio)])
    assert (quiet.windows, quiet.finals) == (0, 2)
    silent = CountingEngine(rec)
    assert run(phonedge.Stream(silent, rec.stream().options), np.zeros(5 * RATE, np.float32), [1600] * 50) == []
    assert (silent.windows, silent.finals) == (0, 0)


def test_the_first_partial_comes_first_partial_s_after_the_onset(layer_bundle: Path) -> None:
    rec = phonedge.load(layer_bundle)
    audio = tone_stream()  # the VAD hears frames 50-64

    def first_partial(**options: object) -> float:
        events = run(rec.stream(vad=loud_vad, **options), audio, [160] * 1000)
        return next(e.emitted_at for e in events if e.kind == "partial")

    # Frames up to 50 + first committed (first_partial_s after the onset), no right context: the last one's
    # field is in at (49 + first) * 320 + 400 samples.
    first = round(phonedge.StreamOptions().first_partial_s / 0.02)
    assert first_partial() == pytest.approx(((49 + first) * 320 + 400) / RATE)
    assert first_partial(first_partial_s=0.2) == pytest.approx((59 * 320 + 400) / RATE)
    # Without it, the first window commits hop_s after the segment's start (PRE frames before the onset) ...
    assert first_partial(first_partial_s=None, hop_s=0.3) == pytest.approx(((50 - PRE + 15 - 1) * 320 + 400) / RATE)
    # ... and right context delays it.
    assert first_partial(right_s=0.1) == pytest.approx(((49 + first + 5) * 320 + 400) / RATE)
