"""The open-set decision on the trained reference bundle, everywhere a result appears, and its export calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import phonedge
from phonedge.cli import main
from phonedge.decide import DEFAULT_REJECT_THRESHOLD, REASONS
from phonedge.errors import ModelBundleError, PhonedgeError

RATE = 16000
REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def non_speech() -> dict[str, np.ndarray]:
    """Sounds that are none of the classes, 1 s at 16 kHz."""
    rng = np.random.default_rng(7)
    t = np.arange(RATE) / RATE
    brown = np.cumsum(rng.normal(size=RATE))
    return {
        "silence": np.zeros(RATE),
        "white_noise": rng.normal(0, 0.03, RATE),
        "brown_noise": 0.03 * (brown - brown.mean()) / brown.std(),
        "hum": 0.1 * np.sin(2 * np.pi * 50 * t) + 0.03 * np.sin(2 * np.pi * 150 * t),
        "tone": 0.1 * np.sin(2 * np.pi * 440 * t),
        "chord": 0.05 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)),
        "clicks": np.where(rng.random(RATE) < 0.0005, 0.5, 0.0),
    }


@pytest.fixture(scope="module")
def rec(reference_bundles: dict[str, Path]) -> phonedge.Recognizer:
    return phonedge.load(reference_bundles["int8"], threads=1)


@pytest.mark.parametrize("name", list(non_speech()))
def test_non_speech_gets_no_class(rec: phonedge.Recognizer, name: str) -> None:
    pred = rec.predict(non_speech()[name].astype(np.float32), RATE)
    assert pred.label is None and pred.label_reason in ("no_speech", "out_of_set"), pred
    closed = phonedge.load(rec.bundle, open_set=False).predict(non_speech()[name].astype(np.float32), RATE)
    assert closed.label is not None  # what phonedge 0.2 said: a class for a non-sound


def test_other_digits_are_out_of_set_and_own_digits_are_not(rec: phonedge.Recognizer) -> None:
    four = rec.predict(REFERENCE / "calibration" / "white_noise.wav")
    assert four.label is None
    kept = [rec.predict(p) for p in sorted((REFERENCE / "audio").glob("*_jackson_[123].wav"))]
    assert sum(p.label is not None for p in kept) >= len(kept) - 1
    for p in kept:
        assert (p.label is None) == (p.label_reason is not None) and p.label_score is not None
        assert p.label_reason in (None, *REASONS)


def test_threshold_overrides(rec: phonedge.Recognizer) -> None:
    path = REFERENCE / "audio" / "1_theo_1.wav"
    score = rec.predict(path).label_score
    assert rec.decoding.open_set.threshold == DEFAULT_REJECT_THRESHOLD  # exported without calibration
    assert phonedge.load(rec.bundle, reject_threshold=score).predict(path).label == "1"
    above = phonedge.load(rec.bundle, reject_threshold=score + 0.01).predict(path)
    assert above.label is None and above.label_reason == "out_of_set"
    with pytest.raises(PhonedgeError, match="reject_threshold"):
        phonedge.load(rec.bundle, reject_threshold="high")  # type: ignore[arg-type]
    res = CliRunner().invoke(main, ["predict", "--json", "--model", str(rec.bundle), "--reject-threshold",
                                    str(score + 0.01), str(path)])
    assert res.exit_code == 0 and json.loads(res.stdout)["label_reason"] == "out_of_set"
    res = CliRunner().invoke(main, ["predict", "--model", str(rec.bundle), "--closed-set", "--reject-threshold",
                                    "100", str(path)])
    assert res.exit_code == 0 and res.stdout.rstrip().endswith("label=1")


def test_json_and_plain_outputs_carry_the_reason(rec: phonedge.Recognizer, tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    sf.write(tone, non_speech()["tone"], RATE)
    res = CliRunner().invoke(main, ["predict", "--json", "--model", str(rec.bundle), str(tone)])
    record = json.loads(res.stdout)
    assert record["label"] is None and record["label_reason"] == "no_speech"
    assert set(record["label_probs"]) == {"0", "1", "2", "3"} and isinstance(record["label_score"], float)
    res = CliRunner().invoke(main, ["predict", "--model", str(rec.bundle), str(tone)])
    assert res.stdout.rstrip().split("\t")[-1] == "label=none:no_speech"


def test_stream_finals_carry_the_decision(rec: phonedge.Recognizer) -> None:
    speech = rec.prepare_audio(REFERENCE / "audio" / "2_theo_1.wav")
    gap = np.zeros(RATE, dtype=np.float32)
    audio = np.concatenate([gap, speech, gap, non_speech()["tone"].astype(np.float32)[: RATE // 2], gap])
    stream = rec.stream(detector="energy")  # Silero VAD (the default when installed) never opens a segment on the tone
    events = [e for start in range(0, len(audio), 1600) for e in stream.accept(audio[start : start + 1600], RATE)]
    finals = [e for e in events + stream.finish() if e.kind == "final"]
    assert len(finals) == 2, finals
    speech_final, tone_final = finals
    offline = rec.predict(audio[speech_final.start_sample : speech_final.end_sample], RATE)
    assert speech_final.label == offline.label == "2"
    assert speech_final.label_score == offline.label_score and speech_final.label_reason is None
    assert tone_final.label is None and tone_final.label_reason == "no_speech"
    assert tone_final.to_dict()["label_reason"] == "no_speech"


def test_serve_answers_carry_the_decision(rec: phonedge.Recognizer) -> None:
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    import io

    from phonedge.serve import ServeSettings, create_app
    from starlette.testclient import TestClient

    body = io.BytesIO()
    sf.write(body, non_speech()["silence"], RATE, format="WAV")
    with TestClient(create_app(rec, ServeSettings(workers=1))) as client:
        reply = client.post("/v1/predict", content=body.getvalue())
        assert reply.status_code == 200
        data = reply.json()
        assert data["label"] is None and data["label_reason"] == "no_speech" and "label_score" in data
        spoken = client.post("/v1/predict", content=(REFERENCE / "audio" / "3_theo_1.wav").read_bytes()).json()
        assert spoken["label"] == "3" and spoken["label_reason"] is None


def test_export_calibrates_the_threshold(reference_model: Path, tmp_path: Path) -> None:
    from phonedge_export import export_bundle

    rows = ["path\ttranscript\tlabel"]
    for path in sorted((REFERENCE / "audio").glob("*_theo_*.wav")):
        rows.append(f"{path}\t-\t{path.name[0]}")
    for name in ("silence", "tone_330hz", "white_noise"):
        rows.append(f"{REFERENCE / 'calibration' / (name + '.wav')}\t\tnone")
    cal = tmp_path / "cal.tsv"
    cal.write_text("\n".join(rows) + "\n")
    manifest = export_bundle(reference_model, tmp_path / "b", quantize="none", labels=REFERENCE / "labels.tsv",
                             reject_calibration=cal, reject_frr=0.05)
    decision = manifest.decision
    threshold = decision["reject_threshold"]
    assert decision["calibration"]["in_set"] == 20 and decision["calibration"]["out_of_set"] == 3
    assert decision["calibration"]["out_of_set_accepted"] == 0
    rec = phonedge.load(tmp_path / "b")
    assert rec.decoding.open_set.threshold == threshold
    scores = sorted(rec.predict(p).label_score for p in sorted((REFERENCE / "audio").glob("*_theo_*.wav")))
    assert sum(s < threshold for s in scores) <= 0.05 * 20 and threshold in [round(s, 6) for s in scores]
    # A bundle written before the decision section existed loads with the documented default.
    data = json.loads((tmp_path / "b" / "phonedge.json").read_text())
    del data["decision"]
    (tmp_path / "b" / "phonedge.json").write_text(json.dumps(data))
    assert phonedge.load(tmp_path / "b").decoding.open_set.threshold == DEFAULT_REJECT_THRESHOLD
    data["decision"] = {"reject_threshold": "low"}
    (tmp_path / "b" / "phonedge.json").write_text(json.dumps(data))
    with pytest.raises(ModelBundleError, match="reject_threshold must be a number"):
        phonedge.load(tmp_path / "b")


def test_export_calibration_errors(reference_model: Path, tmp_path: Path) -> None:
    from phonedge.errors import ExportError
    from phonedge_export import export_bundle

    cal = tmp_path / "cal.tsv"
    cal.write_text("path\ttranscript\tlabel\na.wav\tx\t7\n")
    with pytest.raises(ExportError, match="needs --labels"):
        export_bundle(reference_model, tmp_path / "b", reject_calibration=cal)
    with pytest.raises(ExportError, match=r"labels \['7'\] are not classes"):
        export_bundle(reference_model, tmp_path / "b", labels=REFERENCE / "labels.tsv", reject_calibration=cal)
    cal.write_text("path\ttranscript\tlabel\na.wav\tx\t\n")
    with pytest.raises(ExportError, match="no in-set rows"):
        export_bundle(reference_model, tmp_path / "b", labels=REFERENCE / "labels.tsv", reject_calibration=cal)
    res = CliRunner().invoke(main, ["export", str(reference_model), "-o", str(tmp_path / "c"),
                                    "--reject-calibration", str(cal)])
    assert res.exit_code == 1 and "needs --labels" in res.output
