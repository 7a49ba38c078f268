"""Long files read in blocks: the same samples, windows and predictions as reading them whole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

import phonedge
from phonedge import longform
from phonedge.audio import RESAMPLE_QUALITY, prepare_audio
from phonedge.errors import AudioDecodeError

RATE = 16000
SMALL = phonedge.ChunkPlan(1.0, 0.2, 0.2)  # 1 s windows: a few seconds of audio is "long"
FORMATS = [("WAV", "PCM_16", "wav"), ("WAV", "FLOAT", "wav"), ("FLAC", "PCM_24", "flac"), ("OGG", "VORBIS", "ogg")]


def signal(rate: int, seconds: float, channels: int, seed: int = 0) -> np.ndarray:
    """Tones, noise and a silent stretch, a different mix per channel, shape (frames, channels)."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    cols = []
    for c in range(channels):
        x = 0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) * np.sin(2 * np.pi * 1.5 * t) + rng.normal(0, 0.05, n)
        x[n // 3 : n // 2] = 0.0
        cols.append(x)
    return np.stack(cols, axis=1).astype(np.float32)


def write(path: Path, data: np.ndarray, rate: int, fmt: str, subtype: str) -> Path:
    """Write in blocks: libsndfile 1.2's Vorbis encoder crashes on one large write."""
    with sf.SoundFile(path, "w", rate, data.shape[1], format=fmt, subtype=subtype) as f:
        for i in range(0, len(data), 1 << 15):
            f.write(data[i : i + (1 << 15)])
    return path


def one_shot(rec: phonedge.Recognizer, path: Path) -> phonedge.Prediction:
    """What predict gave before block reading: the whole file decoded, then windowed."""
    samples = rec.prepare_audio(path)
    return rec.decoding.prediction(rec.logits(samples), samples, rec.decoding.decider(), return_logits=True)


def assert_same(a: phonedge.Prediction, b: phonedge.Prediction) -> None:
    assert a.logits is not None and b.logits is not None
    assert a.logits.shape == b.logits.shape and np.array_equal(a.logits, b.logits)
    assert a.to_dict(timestamps=True) == b.to_dict(timestamps=True)


def test_soxr_stream_equals_one_shot() -> None:
    """The premise: soxr's stream gives bit for bit its one-shot output at our quality, whatever the blocks."""
    x = signal(44100, 3.0, 1)[:, 0]
    ref = soxr.resample(x, 44100, RATE, quality=RESAMPLE_QUALITY)
    stream = soxr.ResampleStream(44100, RATE, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    out = [stream.resample_chunk(x[i : i + 777]) for i in range(0, len(x), 777)]
    out.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    assert np.array_equal(np.concatenate(out), ref)


@pytest.mark.parametrize("fmt,subtype,suffix", FORMATS)
@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_blocks_equal_whole_read(tmp_path: Path, fmt: str, subtype: str, suffix: str, rate: int,
                                 channels: int) -> None:
    path = write(tmp_path / f"a.{suffix}", signal(rate, 2.5, channels), rate, fmt, subtype)
    whole = prepare_audio(path, None, RATE, 400)
    blocks = list(longform.read_blocks(path, RATE, block_frames=3001))
    assert len(blocks) > 3
    assert np.array_equal(np.concatenate(blocks), whole)


@pytest.mark.parametrize("fmt,subtype,suffix,rate,channels",
                         [("FLAC", "PCM_16", "flac", 48000, 2), ("WAV", "PCM_16", "wav", 8000, 1),
                          ("OGG", "VORBIS", "ogg", 44100, 1), ("WAV", "PCM_24", "wav", 16000, 3)])
def test_predict_long_file_equals_whole_read(layer_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             fmt: str, subtype: str, suffix: str, rate: int, channels: int) -> None:
    rec = phonedge.load(layer_bundle, chunking=SMALL)
    monkeypatch.setattr(longform, "BLOCK_FRAMES", 5003)
    path = write(tmp_path / f"long.{suffix}", signal(rate, 7.3, channels, seed=rate), rate, fmt, subtype)
    assert longform.reads_in_blocks(rec, path)
    seen: list[int] = []
    run = rec.window_logits
    monkeypatch.setattr(rec, "window_logits", lambda w: seen.append(len(w)) or run(w))
    blocked = rec.predict(path, return_logits=True)
    audio = rec.manifest.audio
    assert len(seen) > 5 and max(seen) <= SMALL.chunk_samples(RATE, audio.frame_stride, audio.receptive_field)
    monkeypatch.undo()
    assert_same(blocked, one_shot(rec, path))


def test_reference_speech_equal(reference_bundles: dict[str, Path], real_recordings: list[Path],
                                tmp_path: Path) -> None:
    """Real speech through the reference int8 bundle's default 10 s windows, as a 48 kHz stereo FLAC."""
    rec = phonedge.load(reference_bundles["int8"])
    speech = np.concatenate([sf.read(p, dtype="float32")[0] for p in real_recordings] * 4)
    up = soxr.resample(speech, 8000, 48000)
    path = write(tmp_path / "speech.flac", np.stack([up, 0.5 * up], axis=1), 48000, "FLAC", "PCM_24")
    assert longform.reads_in_blocks(rec, path)
    blocked = rec.predict(path, return_logits=True)
    assert blocked.text and blocked.label_reason == "out_of_set"  # many digits: no one class
    assert_same(blocked, one_shot(rec, path))


def test_evidence_gathered_in_blocks_equals_whole(tmp_path: Path, layer_bundle: Path) -> None:
    """The open-set decision's speech evidence, gathered block by block, equals speech_evidence of the whole file."""
    from phonedge.speech import speech_evidence

    rec = phonedge.load(layer_bundle, chunking=SMALL)
    grid = rec.decoding.grid
    for seconds in (7.3, grid.samples_for(2 * longform.EVIDENCE_FRAMES) / RATE, 20.0):
        data = signal(RATE, seconds, 1)
        data[: len(data) // 4] *= 1e-4  # quiet frames as well as loud ones
        path = write(tmp_path / "e.wav", data, RATE, "WAV", "FLOAT")
        _, n, evidence = longform.file_logits(rec, path, with_evidence=True)
        whole = speech_evidence(rec.prepare_audio(path), grid)
        assert n == len(data) and evidence == whole and whole.loud_frames > 0


def test_short_files_arrays_and_rates_keep_the_whole_read(layer_bundle: Path, tmp_path: Path) -> None:
    rec = phonedge.load(layer_bundle)  # 10 s windows
    short = write(tmp_path / "short.wav", signal(RATE, 9.0, 1), RATE, "WAV", "PCM_16")
    long = write(tmp_path / "long.wav", signal(RATE, 11.0, 1), RATE, "WAV", "PCM_16")
    assert not longform.reads_in_blocks(rec, short)
    assert longform.reads_in_blocks(rec, long)
    assert not longform.reads_in_blocks(rec, long, sample_rate=RATE)  # refused by the whole read, as before
    assert not longform.reads_in_blocks(rec, tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 100)
    assert not longform.reads_in_blocks(rec, tmp_path / "junk.wav")


def test_mp3_is_read_whole_up_to_its_threshold(layer_bundle: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if "MP3" not in sf.available_formats():
        pytest.skip("libsndfile here lacks MP3")
    rec = phonedge.load(layer_bundle, chunking=SMALL)
    path = write(tmp_path / "a.mp3", signal(22050, 4.0, 1), 22050, "MP3", "MPEG_LAYER_III")
    assert not longform.reads_in_blocks(rec, path)  # 4 s: under MP3_WHOLE_S, whatever the window
    monkeypatch.setattr(longform, "MP3_WHOLE_S", 2.0)
    assert longform.reads_in_blocks(rec, path)
    assert rec.predict(path).duration == pytest.approx(one_shot(rec, path).duration)


def test_truncated_file_fails_or_matches_like_the_whole_read(layer_bundle: Path, tmp_path: Path) -> None:
    """A FLAC cut short: its header promises more than it holds; block reading does what the whole read does."""
    rec = phonedge.load(layer_bundle, chunking=SMALL)
    full = write(tmp_path / "full.flac", signal(RATE, 6.0, 1), RATE, "FLAC", "PCM_16")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert longform.reads_in_blocks(rec, cut)
    try:
        expected = one_shot(rec, cut)
    except AudioDecodeError as exc:
        with pytest.raises(type(exc)):
            rec.predict(cut)
    else:
        assert_same(rec.predict(cut, return_logits=True), expected)


def test_cli_predict_reads_long_files_in_blocks(layer_bundle: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from phonedge.cli import main

    rec = phonedge.load(layer_bundle)
    long = write(tmp_path / "b_long.wav", signal(RATE, 12.0, 1), RATE, "WAV", "PCM_16")
    short = write(tmp_path / "a_short.wav", signal(RATE, 2.0, 1), RATE, "WAV", "PCM_16")
    read_whole: list[str] = []
    original = phonedge.Recognizer.prepare_audio
    monkeypatch.setattr(phonedge.Recognizer, "prepare_audio",
                        lambda self, a, sr=None: (isinstance(a, (str, Path)) and read_whole.append(Path(a).name))
                        or original(self, a, sr))
    out = CliRunner().invoke(main, ["predict", str(short), str(long), "--model", str(layer_bundle), "--json",
                                    "--batch-size", "2"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.strip().splitlines()]
    assert [row["path"] for row in rows] == [str(short), str(long)]
    assert read_whole == ["a_short.wav"]
    assert rows[1]["text"] == rec.predict(long).text


def test_long_output_prediction_holds_no_copy_of_the_log_probabilities(layer_bundle: Path) -> None:
    """Greedy tokens and the open-set class decision on an hour of logits: the log-probabilities once, no more."""
    import tracemalloc

    from export_fixtures import PHONEMES

    rec = phonedge.load(layer_bundle)
    labels = [phonedge.ClassLabel(str(k), " ".join(PHONEMES[4 + k : 6 + k])) for k in range(4)]
    decider = rec.decoding.decider(labels)
    frames = 3600 * 50  # an hour of 20 ms frames
    logits = np.random.default_rng(0).normal(0, 3, (frames, len(PHONEMES))).astype(np.float32)
    logits[np.arange(frames) % 10 != 0, 0] += 20.0  # speech-like: a token every 10 frames at most, blank between
    tracemalloc.start()
    try:
        prediction = rec.decoding.prediction(logits, frames * 320, decider)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert prediction.label_score is not None
    # The log-probabilities are one logits-sized array; per-frame vectors (greedy ids as int64, maxima) add
    # about 0.7x with this 11-token vocabulary (0.3x with the reference's 24). The decision's float64 copies
    # before issue #23's fix made it 5.8x.
    assert peak < 2.0 * logits.nbytes, f"peak {peak / logits.nbytes:.2f}x the logits"


@pytest.mark.parametrize("expected", [0, 1, 37, 100, 250])
def test_frame_rows_gather_any_pieces_into_one_array(expected: int) -> None:
    """Whatever the header announced (too few, exact, too many rows), the rows come back as one concatenation."""
    rng = np.random.default_rng(expected)
    pieces = [rng.normal(size=(int(n), 5)).astype(np.float32) for n in rng.integers(0, 20, size=10)]
    rows = longform.FrameRows(expected)
    for piece in pieces:
        rows.add(piece)
    out = rows.array()
    assert out.dtype == np.float32 and np.array_equal(out, np.concatenate(pieces))
    assert out.base is None or len(out.base) < 2 * len(out)  # no more than twice the rows held
