"""What an upload may cost once decoded: length, channels x rate, audio in flight, and a stream's backlog."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import phonedge  # noqa: E402
from phonedge.errors import PhonedgeError  # noqa: E402
from phonedge.serve import ServeSettings, create_app  # noqa: E402
from phonedge.serve.errors import AudioLimitError, ServerBusyError  # noqa: E402
from phonedge.serve.uploads import Header, Reservation, SampleBudget, decode_upload, read_header  # noqa: E402
from serve_fixtures import with_fake_streams  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

RATE = 16000


@pytest.fixture(scope="module")
def rec(layer_bundle: Path) -> phonedge.Recognizer:
    return phonedge.load(layer_bundle, threads=1)


def client_for(rec: phonedge.Recognizer, **settings: Any) -> TestClient:
    return TestClient(create_app(rec, ServeSettings(**settings)))


def encoded(seconds: float, rate: int = RATE, channels: int = 1, fmt: str = "FLAC", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((int(seconds * rate), channels)) * 0.1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def test_upload_over_max_audio_seconds_is_413_before_decoding(rec: phonedge.Recognizer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from phonedge.serve import uploads

    decoded: list[str] = []
    monkeypatch.setattr(uploads, "sound_blocks", lambda *a, **k: decoded.append("x") or iter(()))
    with client_for(rec, max_audio_seconds=2.0) as c:
        r = c.post("/v1/predict", content=encoded(3.0, 48000, 2))
        assert r.status_code == 413 and r.json()["type"] == "AudioLimitError"
        assert "--max-audio-seconds" in r.json()["error"] and "3.0 s" in r.json()["error"]
        r = c.post("/v1/predict", files={"file": ("a.flac", encoded(3.0), "audio/flac")})
        assert r.status_code == 413
    assert decoded == []


def test_upload_within_limits_equals_the_library(rec: phonedge.Recognizer, tmp_path: Path) -> None:
    with client_for(rec, max_audio_seconds=2.0) as c:
        for rate, channels, fmt in ((48000, 2, "FLAC"), (8000, 1, "WAV"), (44100, 3, "WAV")):
            data = encoded(1.9, rate, channels, fmt, seed=rate)
            path = tmp_path / f"a.{fmt.lower()}"
            path.write_bytes(data)
            r = c.post("/v1/predict", content=data)
            assert r.status_code == 200, r.text
            assert r.json() == json.loads(json.dumps(rec.predict(path).to_dict(timestamps=False)))


def test_channels_times_rate_over_the_limit_is_413(rec: phonedge.Recognizer) -> None:
    with client_for(rec, max_channel_rate=96000) as c:
        assert c.post("/v1/predict", content=encoded(0.5, 48000, 2)).status_code == 200
        r = c.post("/v1/predict", content=encoded(0.5, 48000, 3))
        assert r.status_code == 413 and "--max-channel-rate" in r.json()["error"]
        assert "3 channels at 48000 Hz" in r.json()["error"]


def test_length_is_enforced_while_decoding_when_the_header_understates() -> None:
    settings = ServeSettings(max_audio_seconds=1.0)
    data = encoded(3.0)
    lying = Header(frames=RATE // 2, rate=RATE, channels=1, format="FLAC")
    budget = SampleBudget(10 * RATE)
    reservation = Reservation(budget, 0)
    with pytest.raises(AudioLimitError, match="more than 1 s"):
        decode_upload(data, "upload", lying, RATE, settings, reservation)
    reservation.release()
    assert budget.held == 0


def test_audio_beyond_the_reservation_needs_room_in_the_budget() -> None:
    settings = ServeSettings()
    data = encoded(3.0)
    header = read_header(data, "upload")
    assert header.seconds == pytest.approx(3.0)
    budget = SampleBudget(2 * RATE)
    assert budget.try_take(RATE // 2)
    reservation = Reservation(budget, RATE // 2)  # the header said half a second
    with pytest.raises(ServerBusyError, match="--max-audio-in-flight-seconds"):
        decode_upload(data, "upload", header, RATE, settings, reservation)
    reservation.release()
    assert budget.held == 0
    roomy = SampleBudget(4 * RATE)
    assert roomy.try_take(RATE // 2)
    reservation = Reservation(roomy, RATE // 2)
    x = decode_upload(data, "upload", header, RATE, settings, reservation)
    assert len(x) == 3 * RATE and roomy.held >= len(x)
    reservation.release()
    assert roomy.held == 0
    with pytest.raises(ServerBusyError):  # a released reservation (client gone) takes nothing more
        reservation.cover(RATE, RATE)


def test_full_budget_waits_then_503(rec: phonedge.Recognizer) -> None:
    data = encoded(1.0)
    with client_for(rec, max_audio_seconds=2.0, max_audio_in_flight_seconds=2.0, queue_timeout=0.2) as c:
        budget = c.app.state.phonedge.budget  # type: ignore[attr-defined]
        assert budget.try_take(budget.limit)  # as if other uploads held it all
        r = c.post("/v1/predict", content=data)
        assert r.status_code == 503 and r.json()["type"] == "ServerBusyError"
        threading.Timer(0.1, budget.give_back, [budget.limit]).start()
        c.app.state.phonedge.settings = ServeSettings(max_audio_seconds=2.0, max_audio_in_flight_seconds=2.0,
                                                      queue_timeout=5.0)  # type: ignore[attr-defined]
        assert c.post("/v1/predict", content=data).status_code == 200  # waited for the room
        assert budget.held == 0


def test_not_audio_is_still_400(rec: phonedge.Recognizer) -> None:
    with client_for(rec) as c:
        for body in (b"", b"RIFF" + b"\x00" * 40, b"just text"):
            r = c.post("/v1/predict", content=body)
            assert r.status_code == 400 and r.json()["type"] == "AudioDecodeError"


def test_settings_refuse_an_in_flight_budget_under_one_upload() -> None:
    with pytest.raises(PhonedgeError, match="max_audio_in_flight_seconds"):
        ServeSettings(max_audio_seconds=600, max_audio_in_flight_seconds=300)
    with pytest.raises(PhonedgeError, match="max_channel_rate"):
        ServeSettings(max_channel_rate=0)


def test_stream_backlog_is_bounded(rec: phonedge.Recognizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client sending faster than the model runs: the server stops reading beyond the backlog limit."""
    monkeypatch.setattr(rec, "stream", rec.stream)  # restored after the test
    streams = with_fake_streams(rec)
    made = rec.stream

    def slow_stream(*args: Any, **kwargs: Any) -> Any:
        stream = made(*args, **kwargs)
        fast = stream.accept

        def accept(samples: np.ndarray, sample_rate: Any = None) -> Any:
            time.sleep(0.02)
            return fast(samples, sample_rate)

        stream.accept = accept
        return stream

    monkeypatch.setattr(rec, "stream", slow_stream)
    frame = np.zeros(1600, "<i2").tobytes()  # 0.1 s at 16 kHz
    with client_for(rec, max_stream_backlog_seconds=0.5) as c, c.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": RATE, "format": "pcm16"}))
        assert json.loads(ws.receive_text())["kind"] == "ready"
        for _ in range(100):
            ws.send_bytes(frame)
        ws.send_text('{"type": "stop"}')
        while ws.receive()["type"] != "websocket.close":
            pass
    blocks = streams[-1].blocks
    assert sum(len(b) for b in blocks) == 100 * 1600
    assert max(len(b) for b in blocks) <= int(0.5 * RATE) + 1600
