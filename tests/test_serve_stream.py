"""``WS /v1/stream``: the wire protocol (with a test-only fake stream) and, where the stream API exists, real finals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import phonedge  # noqa: E402
from phonedge.serve import ServeSettings, create_app  # noqa: E402
from serve_fixtures import utterances_with_pauses, with_fake_streams  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

START = {"sample_rate": 16000, "format": "pcm16"}


@pytest.fixture()
def rec(layer_bundle: Path) -> phonedge.Recognizer:
    return phonedge.load(layer_bundle, threads=1)


def client_for(rec: phonedge.Recognizer, **settings: Any) -> TestClient:
    return TestClient(create_app(rec, ServeSettings(**settings)))


def messages_until_close(ws: Any) -> tuple[list[dict[str, Any]], int]:
    """Every JSON message the server sends, then its close code."""
    out = []
    while True:
        msg = ws.receive()
        if msg["type"] == "websocket.close":
            return out, msg["code"]
        out.append(json.loads(msg["text"]))


def test_random_frame_sizes_reach_the_stream_unchanged(rec: phonedge.Recognizer) -> None:
    streams = with_fake_streams(rec)
    rng = np.random.default_rng(0)
    for fmt, dtype in (("pcm16", "<i2"), ("f32", "<f4")):
        audio = (rng.standard_normal(24000) * (8000 if fmt == "pcm16" else 0.2)).astype(dtype)
        data = audio.tobytes()
        cuts = np.sort(rng.choice(np.arange(1, len(data)), size=60, replace=False))  # odd sizes split samples
        with client_for(rec) as c, c.websocket_connect("/v1/stream") as ws:
            ws.send_text(json.dumps({"sample_rate": 22050, "format": fmt}))
            assert json.loads(ws.receive_text())["kind"] == "ready"
            for piece in np.split(np.frombuffer(data, np.uint8), cuts):
                ws.send_bytes(piece.tobytes())
            ws.send_text('{"type": "stop"}')
            msgs, code = messages_until_close(ws)
        stream = streams[-1]
        assert code == 1000 and stream.finished
        np.testing.assert_array_equal(stream.samples(), audio)
        assert set(stream.rates) == {22050}
        kinds = [m["kind"] for m in msgs]
        assert kinds[-1] == "summary" and kinds[-2] == "final" and set(kinds[:-2]) <= {"partial"}
        summary = msgs[-1]
        assert summary["reason"] == "stop" and summary["audio_seconds"] == pytest.approx(24000 / 22050, abs=1e-4)
        assert summary["finals"] == [{"text": "24000 samples", "label": None, "label_reason": None, "start": 0.0, "end": 1.5}]


@pytest.mark.parametrize("first, words", [
    (b"\x00\x01", "first message must be the JSON text"),
    ("not json", "not JSON"),
    ("[16000]", "JSON object"),
    ('{"sample_rate": 16000, "format": "pcm16", "lang": "en"}', "unknown fields ['lang']"),
    ('{"sample_rate": "16000", "format": "pcm16"}', "sample_rate must be an integer"),
    ('{"sample_rate": 0, "format": "pcm16"}', "sample_rate must be an integer"),
    ('{"sample_rate": true, "format": "pcm16"}', "sample_rate must be an integer"),
    ('{"sample_rate": 16000, "format": "mp3"}', "format must be one of pcm16, f32"),
    ('{"sample_rate": 16000}', "format must be one of"),
    ('{"sample_rate": 16000, "format": "pcm16", "align": "yes"}', "align must be true or false"),
])
def test_bad_start_messages(rec: phonedge.Recognizer, first: Any, words: str) -> None:
    streams = with_fake_streams(rec)
    with client_for(rec) as c, c.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(first) if isinstance(first, bytes) else ws.send_text(first)
        msgs, code = messages_until_close(ws)
    assert code == 1008 and len(msgs) == 1
    assert msgs[0]["kind"] == "error" and words in msgs[0]["error"] and msgs[0]["type"] == "BadRequestError"
    assert streams == []


def test_garbage_text_after_start_ends_that_stream_only(rec: phonedge.Recognizer) -> None:
    with_fake_streams(rec)
    with client_for(rec) as c:
        with c.websocket_connect("/v1/stream") as good:
            good.send_text(json.dumps(START))
            good.receive_text()
            with c.websocket_connect("/v1/stream") as bad:
                bad.send_text(json.dumps(START))
                bad.receive_text()
                bad.send_text("hello?")
                msgs, code = messages_until_close(bad)
                assert code == 1008 and 'must be {"type": "stop"}' in msgs[-1]["error"]
            good.send_bytes(np.zeros(1600, "<i2").tobytes())
            good.send_text('{"type": "stop"}')
            msgs, code = messages_until_close(good)
            assert code == 1000 and msgs[-1]["audio_seconds"] == 0.1
        assert c.get("/v1/health").json()["streams"] == 0


def test_a_stream_that_outlives_its_limit(rec: phonedge.Recognizer) -> None:
    streams = with_fake_streams(rec)
    with client_for(rec, max_stream_seconds=0.5) as c, c.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": 8000, "format": "f32"}))
        ws.receive_text()
        for _ in range(10):  # 1 s in 0.1 s frames; the server stops reading at 0.5 s
            ws.send_bytes(np.zeros(800, "<f4").tobytes())
        msgs, code = messages_until_close(ws)
    assert code == 1008
    assert msgs[-1]["reason"] == "limit" and "0.5 s" in msgs[-1]["note"] and msgs[-1]["audio_seconds"] == 0.5
    assert msgs[-2]["kind"] == "final" and streams[0].count == 4000 and streams[0].finished


def test_a_quiet_client_is_ended_after_the_idle_timeout(rec: phonedge.Recognizer) -> None:
    with_fake_streams(rec)
    with client_for(rec, idle_timeout=0.3) as c:
        with c.websocket_connect("/v1/stream") as ws:  # never sends a start message
            msgs, code = messages_until_close(ws)
            assert code == 1008 and "no start message within 0.3 s" in msgs[0]["error"]
        with c.websocket_connect("/v1/stream") as ws:  # starts, sends a little, then goes quiet
            ws.send_text(json.dumps(START))
            ws.receive_text()
            ws.send_bytes(np.zeros(3200, "<i2").tobytes())
            msgs, code = messages_until_close(ws)
            assert code == 1008 and msgs[-1]["reason"] == "idle" and msgs[-1]["audio_seconds"] == 0.2
            assert msgs[-2]["kind"] == "final"


def test_stream_limit_refuses_the_extra_client_and_frees_slots(rec: phonedge.Recognizer) -> None:
    with_fake_streams(rec)
    with client_for(rec, max_streams=1) as c:
        with c.websocket_connect("/v1/stream") as first:
            first.send_text(json.dumps(START))
            first.receive_text()
            with c.websocket_connect("/v1/stream") as second:
                msgs, code = messages_until_close(second)
                assert code == 1013 and msgs[0]["type"] == "BusyError" and "limit" in msgs[0]["error"]
            assert c.get("/v1/health").json()["streams"] == 1
        # the first client left without stop (a disconnect mid-utterance): its slot comes back
        with c.websocket_connect("/v1/stream") as third:
            third.send_text(json.dumps(START))
            assert json.loads(third.receive_text())["kind"] == "ready"
            third.send_text('{"type": "stop"}')
            assert messages_until_close(third)[1] == 1000


def test_websocket_needs_the_token(rec: phonedge.Recognizer) -> None:
    with_fake_streams(rec)
    with client_for(rec, token="t0k") as c:
        with pytest.raises(WebSocketDisconnect) as denied:
            with c.websocket_connect("/v1/stream"):
                pass
        assert getattr(denied.value, "status_code", None) == 401  # the handshake answer, not a close
        with c.websocket_connect("/v1/stream?token=t0k") as ws:
            ws.send_text(json.dumps(START))
            assert json.loads(ws.receive_text())["kind"] == "ready"
        with c.websocket_connect("/v1/stream", headers={"Authorization": "Bearer t0k"}) as ws:
            ws.send_text(json.dumps(START))
            assert json.loads(ws.receive_text())["kind"] == "ready"


# -- against the real stream API (issue #10) ---------------------------------------------------------


def one_per_digit(rec: phonedge.Recognizer, skip: int = 0) -> list[Path]:
    """For digits 0-3, a recording (after ``skip`` others) that ``predict`` labels with its own digit."""
    audio = Path(__file__).resolve().parents[1] / "reference" / "audio"
    picked = []
    for digit in "0123":
        fits = [f for f in sorted(audio.glob(f"{digit}_*.wav")) if rec.predict(f).label == digit]
        picked.append(fits[skip % len(fits)])
    return picked


@pytest.mark.parametrize("align", [False, True])
def test_real_stream_finals_match_predict(reference_bundles: dict[str, Path], align: bool) -> None:
    rec = phonedge.load(reference_bundles["int8"], threads=1)
    files = one_per_digit(rec, skip=3)
    audio, spans = utterances_with_pauses(files)
    pcm = (np.clip(audio, -1, 1 - 2**-15) * 32768).astype("<i2")
    rng = np.random.default_rng(1)
    with client_for(rec, workers=2) as c, c.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({**START, "align": True} if align else START))
        ws.receive_text()
        data, pos = pcm.tobytes(), 0
        while pos < len(data):
            n = int(rng.integers(1, 9000))
            ws.send_bytes(data[pos : pos + n])
            pos += n
        ws.send_text('{"type": "stop"}')
        msgs, code = messages_until_close(ws)
    assert code == 1000
    finals = [m for m in msgs if m["kind"] == "final" and m["text"]]
    assert [f["label"] for f in finals] == [rec.predict(f).label for f in files] == ["0", "1", "2", "3"]
    local = rec.stream(align=align)  # the library on the same samples in one block: the server adds, loses nothing
    expected = [e.to_dict() for e in local.accept(pcm, 16000) + local.finish() if e.kind == "final"]
    assert [m for m in msgs if m["kind"] == "final"] == expected
    assert all(("alignment" in f) == align for f in finals)
    for f, (start, end) in zip(finals, spans):
        assert f["start"] <= end and f["end"] >= start
    assert msgs[-1]["finals"] == [{k: m[k] for k in ("text", "label", "label_reason", "start", "end")}
                                  for m in msgs if m["kind"] == "final"]


def test_real_stream_refuses_non_finite_samples(layer_bundle: Path) -> None:
    rec = phonedge.load(layer_bundle, threads=1)
    with client_for(rec) as c, c.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": 16000, "format": "f32"}))
        ws.receive_text()
        ws.send_bytes(np.full(4000, np.nan, "<f4").tobytes())
        msgs, code = messages_until_close(ws)
    assert code == 1008 and msgs[-1]["kind"] == "error" and "NaN" in msgs[-1]["error"]
