"""The recogniser against the PyTorch reference: logits, transcripts, batches, threads, chunking."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import phonedge
from phonedge.audio import prepare_audio
from phonedge.errors import PhonedgeError

RATE = 16000
ONE_PASS = phonedge.ChunkPlan(600.0, 0.0, 0.0)  # windows longer than any test input


def signals(seed: int, lengths: list[int]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for n in lengths:
        t = np.arange(n) / RATE
        x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 900) * t) * np.sin(2 * np.pi * rng.uniform(1, 5) * t)
        out.append((x + rng.normal(0, 0.05, n)).astype(np.float32))
    return out


def hf_reference(model_dir: Path, audio: np.ndarray) -> tuple[np.ndarray, str]:
    """Logits and transcript from Wav2Vec2Processor + Wav2Vec2ForCTC (the PyTorch reference)."""
    import torch
    from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

    processor = Wav2Vec2Processor.from_pretrained(str(model_dir))
    model = Wav2Vec2ForCTC.from_pretrained(str(model_dir)).eval()
    feats = processor(audio, sampling_rate=RATE, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**feats).logits[0].numpy()
    return logits, processor.batch_decode(logits.argmax(-1)[None])[0]


@pytest.mark.parametrize("which", ["layer", "group"])
def test_logits_and_text_match_pytorch(which: str, request: pytest.FixtureRequest) -> None:
    model_dir = request.getfixturevalue(f"{which}_model")
    rec = phonedge.load(request.getfixturevalue(f"{which}_bundle"))
    for x in signals(3, [400, 401, 3200, 16000, 40123]):
        pred = rec.predict(x, RATE, return_logits=True)
        ref_logits, ref_text = hf_reference(model_dir, x)
        assert pred.logits is not None and pred.logits.shape == ref_logits.shape
        assert float(np.abs(pred.logits - ref_logits).max()) <= 1e-4
        assert pred.text == ref_text


def test_real_recordings_match_pytorch(reference_model: Path, reference_bundles: dict, real_recordings: list) -> None:
    """8 kHz FSDD recordings: phonedge's soxr resampling + fp32 graph vs the PyTorch model on the same samples."""
    rec = phonedge.load(reference_bundles["none"])
    for path in real_recordings:
        pred = rec.predict(path, return_logits=True)
        ref_logits, ref_text = hf_reference(reference_model, prepare_audio(path, None, RATE, 400))
        assert float(np.abs(pred.logits - ref_logits).max()) <= 1e-4
        assert pred.text == ref_text


def test_other_formats_and_rates_match_pytorch(reference_model: Path, reference_bundles: dict,
                                               real_recordings: list, tmp_path: Path) -> None:
    """The same recordings as FLAC/WAV/OGG/MP3 at other rates: phonedge and PyTorch agree on each file."""
    import soxr

    rec = phonedge.load(reference_bundles["none"])
    formats = [("flac", 8000, "PCM_16"), ("wav", 16000, "PCM_24"), ("wav", 44100, "FLOAT"), ("ogg", 22050, "VORBIS"),
               ("mp3", 24000, "MPEG_LAYER_III")]
    for path in real_recordings[:4]:
        audio, rate = sf.read(path, dtype="float32")
        for fmt, sr, subtype in formats:
            if fmt.upper() not in sf.available_formats():
                continue
            out = tmp_path / f"{path.stem}_{sr}.{fmt}"
            sf.write(out, soxr.resample(audio, rate, sr), sr, subtype=subtype)
            _, ref_text = hf_reference(reference_model, prepare_audio(out, None, RATE, 400))
            assert rec.predict(out).text == ref_text, out
        # Lossless at the original rate is the same audio: the same transcript as the original file.
        assert rec.predict(tmp_path / f"{path.stem}_8000.flac").text == rec.predict(path).text


def test_timestamps_and_confidences(reference_bundles: dict, real_recordings: list) -> None:
    """A real "zero" gets its four phoneme tokens, in order, on the frame grid, inside the audio."""
    rec = phonedge.load(reference_bundles["none"])
    zero = next(path for path in real_recordings if path.name == "0_lucas_0.wav")
    pred = rec.predict(zero)
    assert pred.duration == pytest.approx(len(prepare_audio(zero, None, RATE, 400)) / RATE)
    assert 0.0 < pred.confidence <= 1.0
    assert [t.text for t in pred.tokens] == pred.text.split() == ["z", "ih", "r", "ow"]
    ends = [0.0]
    for tok in pred.tokens:
        assert ends[-1] <= tok.start < tok.end <= pred.duration + 0.02
        assert 0.0 < tok.confidence <= 1.0
        assert (tok.start * RATE / 320) == pytest.approx(round(tok.start * RATE / 320))
        ends.append(tok.end)
    assert pred.token_ids == [t.id for t in pred.tokens]
    d = pred.to_dict()
    assert d["text"] == pred.text and len(d["tokens"]) == len(pred.tokens)


@pytest.mark.parametrize("which", ["layer_bundle", "layer_bundle_nomask", "group_bundle"])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_batch_equals_one_by_one(which: str, batch_size: int, request: pytest.FixtureRequest) -> None:
    rec = phonedge.load(request.getfixturevalue(which))
    items = signals(5, [16000, 4000, 16000, 9999, 400, 23456, 4000])
    single = [rec.predict(x, RATE, return_logits=True) for x in items]
    batch = rec.predict_batch(items, RATE, batch_size=batch_size, return_logits=True)
    assert [p.text for p in batch] == [p.text for p in single]
    for a, b in zip(batch, single):
        assert a.logits.shape == b.logits.shape
        assert float(np.abs(a.logits - b.logits).max()) <= 1e-4


def test_mask_graph_is_used_for_layer_norm(layer_bundle: Path, layer_bundle_nomask: Path, group_bundle: Path) -> None:
    assert "attention_mask" in phonedge.load(layer_bundle).input_names
    assert "attention_mask" not in phonedge.load(layer_bundle_nomask).input_names
    assert "attention_mask" not in phonedge.load(group_bundle).input_names


def test_threads_give_serial_results(layer_bundle: Path) -> None:
    rec = phonedge.load(layer_bundle, threads=1)
    items = signals(6, [8000 + 811 * i for i in range(12)])
    serial = [rec.predict(x, RATE, return_logits=True) for x in items]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda x: rec.predict(x, RATE, return_logits=True), items))
    for a, b in zip(serial, parallel):
        assert a.text == b.text
        np.testing.assert_array_equal(a.logits, b.logits)


@pytest.fixture(scope="module")
def local_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model without transformer layers: its output at a frame depends on +-8 frames only."""
    from export_fixtures import build_checkpoint
    from phonedge_export import export_bundle

    root = tmp_path_factory.mktemp("local")
    export_bundle(build_checkpoint(root / "model", layer_norm=True, layers=0), root / "bundle", quantize="none")
    return root / "bundle"


def test_chunked_equals_unchunked_when_context_suffices(local_bundle: Path, tmp_path: Path) -> None:
    """Chunks on the frame grid with enough context reproduce the single pass frame for frame.

    Windows are normalised one by one, so the geometry is checked with normalisation off.
    """
    bundle = shutil.copytree(local_bundle, tmp_path / "raw")
    manifest = json.loads((bundle / "phonedge.json").read_text())
    manifest["audio"]["do_normalize"] = False
    (bundle / "phonedge.json").write_text(json.dumps(manifest))
    x = signals(8, [16000 * 7 + 123])[0]
    whole = phonedge.load(bundle, chunking=ONE_PASS).predict(x, RATE, return_logits=True)
    chunked = phonedge.load(bundle, chunking=phonedge.ChunkPlan(2.0, 0.4, 0.4)).predict(x, RATE, return_logits=True)
    assert chunked.logits.shape == whole.logits.shape
    assert float(np.abs(chunked.logits - whole.logits).max()) <= 1e-4
    assert chunked.text == whole.text
    # Control: without context the positional conv misses frames at chunk edges, and the test sees it.
    blind = phonedge.load(bundle, chunking=phonedge.ChunkPlan(2.0, 0.0, 0.0)).predict(x, RATE, return_logits=True)
    assert blind.logits.shape == whole.logits.shape
    assert float(np.abs(blind.logits - whole.logits).max()) > 1e-3


def test_each_window_is_normalised_on_its_own(local_bundle: Path) -> None:
    """Long input: every window's frames are those of that window normalised alone."""
    rec = phonedge.load(local_bundle, chunking=phonedge.ChunkPlan(2.0, 0.4, 0.4))
    x = signals(9, [16000 * 7 + 123])[0] * np.linspace(0.1, 3.0, 16000 * 7 + 123, dtype=np.float32)
    got = rec.predict(x, RATE, return_logits=True).logits
    pieces = []
    for c in rec.chunking.windows(len(x), RATE, 320, 400):
        w = x[c.start : c.stop]
        normed = (w - w.mean()) / np.sqrt(w.var() + 1e-7)
        pieces.append(rec._run(normed[None, :].astype(np.float32), None)[0][c.keep_from : c.keep_to])
    np.testing.assert_allclose(got, np.concatenate(pieces), atol=1e-5)
    whole_norm = rec._run(((x - x.mean()) / np.sqrt(x.var() + 1e-7))[None, :].astype(np.float32), None)[0]
    assert float(np.abs(got - whole_norm).max()) > 1e-2  # one normalisation over all would differ


def test_chunking_real_speech(reference_bundles: dict) -> None:
    """Twelve real digits in a row per speaker (7-10 s): chunked transcripts are as good as one pass.

    The reference model was trained on single digits, so 3 s chunks (1 s context each side) are
    measured against the truth rather than against the single pass, which long context confuses.
    """
    from phonedge.metrics import wer

    lexicon = {"0": "z ih r ow", "1": "w ah n", "2": "t uw", "3": "th r iy"}
    audio_dir = Path(__file__).resolve().parents[1] / "reference" / "audio"
    gap = np.zeros(int(0.3 * RATE), np.float32)
    whole = phonedge.load(reference_bundles["none"], chunking=ONE_PASS)
    chunked = phonedge.load(reference_bundles["none"], chunking=phonedge.ChunkPlan(3.0, 1.0, 1.0))
    truth, one_pass, in_chunks = [], [], []
    for speaker in ("jackson", "theo", "nicolas", "george", "lucas", "yweweler"):
        files = sorted(audio_dir.glob(f"*_{speaker}_*.wav"))[:12]
        audio = np.concatenate([np.concatenate([prepare_audio(f, None, RATE, 400), gap]) for f in files])
        truth.append(" ".join(lexicon[f.name[0]] for f in files))
        a, b = whole.predict(audio, RATE, return_logits=True), chunked.predict(audio, RATE, return_logits=True)
        assert a.logits.shape == b.logits.shape  # the kept frames tile the utterance exactly
        one_pass.append(a.text)
        in_chunks.append(b.text)
    assert wer(truth, in_chunks) <= wer(truth, one_pass)
    assert wer(truth, in_chunks) <= 0.1


def test_classes_from_bundle_labels(reference_bundles: dict, real_recordings: list) -> None:
    rec = phonedge.load(reference_bundles["int8"])
    assert [lab.label for lab in rec.labels] == ["0", "1", "2", "3"]
    for path in real_recordings:
        pred = rec.predict(path)
        assert pred.label_probs is not None
        assert sum(pred.label_probs.values()) == pytest.approx(1.0, abs=1e-5)
        if pred.label_reason is None:
            assert pred.label == max(pred.label_probs, key=pred.label_probs.get)
        else:
            assert pred.label is None and pred.label_reason in phonedge.decide.REASONS
        nearest = rec.predict(path, classify="nearest")
        assert nearest.label_probs is None and nearest.label_score is not None
        assert nearest.label in {"0", "1", "2", "3"} if nearest.label_reason is None else nearest.label is None
        closed = phonedge.load(reference_bundles["int8"], open_set=False).predict(path)
        assert closed.label == max(pred.label_probs, key=pred.label_probs.get) and closed.label_reason is None


def test_bad_classify_and_batch_args(layer_bundle: Path) -> None:
    rec = phonedge.load(layer_bundle)
    x = signals(7, [8000])[0]
    with pytest.raises(PhonedgeError, match="classify must be"):
        rec.predict(x, RATE, classify="vote")
    with pytest.raises(PhonedgeError, match="batch_size"):
        rec.predict_batch([x], RATE, batch_size=0)
    with pytest.raises(PhonedgeError, match="list of inputs"):
        rec.predict_batch(x, RATE)


def test_int8_batch_equals_one_by_one(reference_bundles: dict, real_recordings: list) -> None:
    """Dynamic int8 scales activations per tensor, so batch-mates would leak: results must still match."""
    rec = phonedge.load(reference_bundles["int8"])
    single = [rec.predict(p, return_logits=True) for p in real_recordings]
    batch = rec.predict_batch(real_recordings, batch_size=4, return_logits=True)
    assert len(batch) == len(single) == len(real_recordings) > 4  # more items than one batch holds
    for a, b in zip(batch, single):
        assert a.text == b.text
        np.testing.assert_array_equal(a.logits, b.logits)


def test_loading_returns_freed_heap_to_the_os(layer_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from phonedge import session as session_module

    calls: list[bool] = []
    real = session_module.release_freed_memory
    monkeypatch.setattr(session_module, "release_freed_memory", lambda: calls.append(real()) or calls[-1])
    phonedge.load(layer_bundle)
    assert len(calls) == 1
    if sys.platform.startswith("linux"):
        import platform

        assert calls == [platform.libc_ver()[0] == "glibc"]


def test_session_options(layer_bundle: Path) -> None:
    from phonedge.session import SessionConfig, create_session

    options = phonedge.load(layer_bundle, threads=1)._session.get_session_options()
    assert options.enable_mem_pattern is False and options.intra_op_num_threads == 1
    session = create_session(layer_bundle / "model.onnx", SessionConfig(memory_pattern=True, intra_op_threads=2))
    assert session.get_session_options().enable_mem_pattern is True
