"""Fuzzing the server (Hypothesis, seeded): mutated audio bodies, random multipart bodies, random WebSocket sessions.

Whatever arrives, the answer is a JSON 2xx/4xx (never a 5xx), a stream ends with a summary or
an error message and a policy close (never 1011, an internal error), and the process survives.
The examples here run in ``make test`` (a few hundred per surface); ``make fuzz`` runs the same
properties with PHONEDGE_FUZZ_EXAMPLES=10000 against the reference bundle. Cases a run finds are
kept below as ``@example``s.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette")
pytest.importorskip("httpx")
hypothesis = pytest.importorskip("hypothesis")

import phonedge  # noqa: E402
from hypothesis import HealthCheck, example, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from phonedge.serve import ServeSettings, create_app  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

EXAMPLES = int(os.environ.get("PHONEDGE_FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
# Small limits, so that the fuzzer also reaches the limits' error paths.
LIMITS = {"max_audio_seconds": 2.0, "max_audio_in_flight_seconds": 4.0, "max_body_bytes": 200_000,
          "queue_timeout": 0.5, "idle_timeout": 2.0, "max_stream_seconds": 3.0, "workers": 2}


def _seed_files() -> list[bytes]:
    """Short valid files in every container the fuzzer mutates: WAV (3 widths), FLAC, OGG, MP3."""
    rng = np.random.default_rng(0)
    out = []
    for fmt, subtype, rate, channels in [("WAV", "PCM_16", 8000, 1), ("WAV", "FLOAT", 44100, 2),
                                         ("WAV", "PCM_U8", 16000, 1), ("FLAC", "PCM_16", 48000, 2),
                                         ("FLAC", "PCM_24", 16000, 1), ("OGG", "VORBIS", 22050, 1),
                                         ("MP3", "MPEG_LAYER_III", 16000, 1)]:
        if fmt not in sf.available_formats():
            continue
        x = (rng.standard_normal((int(0.4 * rate), channels)) * 0.1).astype(np.float32)
        buf = io.BytesIO()
        sf.write(buf, x, rate, format=fmt, subtype=subtype)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_files()


@st.composite
def mutated_audio(draw: Any) -> bytes:
    """A seed file with bytes overwritten, inserted or deleted near its header, and maybe truncated."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "int32"]))
        head = draw(st.booleans())  # most of a file's structure is in its first bytes
        pos = draw(st.integers(0, min(len(data), 128) - 1 if head else max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:  # a length or rate field: 0, negative, huge
            value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 192000, 8]))
            data[pos : pos + 4] = value.to_bytes(4, "little")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def assert_json_answer(r: Any) -> None:
    assert r.status_code < 500, r.text
    body = r.json()
    if r.status_code != 200:
        assert set(body) == {"error", "type"} and body["error"], body


@pytest.fixture(scope="module")
def client(request: pytest.FixtureRequest) -> TestClient:
    bundle = os.environ.get("PHONEDGE_FUZZ_BUNDLE") or request.getfixturevalue("layer_bundle")
    rec = phonedge.load(bundle, threads=1)
    with TestClient(create_app(rec, ServeSettings(**LIMITS)), raise_server_exceptions=False) as c:
        yield c


@seed(23)
@FUZZ
@given(body=mutated_audio(), query=st.sampled_from(["", "?timestamps=true", "?classify=none", "?classify=nearest"]))
def test_fuzz_audio_bodies(client: TestClient, body: bytes, query: str) -> None:
    assert_json_answer(client.post("/v1/predict" + query, content=body))


@st.composite
def multipart_bodies(draw: Any) -> tuple[bytes, str]:
    """A multipart body, well formed or not, and its Content-Type (whose boundary may not match)."""
    boundary = draw(st.sampled_from(["XyZ", "a" * 70, "", "--", "b\r\nc"]))
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["file", "audio", "", '"', "x" * 300]))
        filename = draw(st.one_of(st.none(), st.sampled_from(["a.wav", "", "../../etc/passwd", "é.flac"])))
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        headers = draw(st.sampled_from([f"Content-Disposition: {disposition}\r\n",
                                        f"Content-Disposition: {disposition}\r\nContent-Type: audio/wav\r\n",
                                        "Content-Type: audio/wav\r\n", ""]))
        content = draw(st.one_of(mutated_audio(), st.binary(max_size=256)))
        parts.append(f"--{boundary}\r\n{headers}\r\n".encode() + content + b"\r\n")
    tail = draw(st.sampled_from([f"--{boundary}--\r\n".encode(), b"", b"--", draw(st.binary(max_size=32))]))
    header_boundary = draw(st.sampled_from([boundary, "other", ""]))
    content_type = draw(st.sampled_from([f"multipart/form-data; boundary={header_boundary}",
                                         "multipart/form-data", f'multipart/form-data; boundary="{header_boundary}"']))
    return b"".join(parts) + tail, content_type


@seed(23)
@FUZZ
@given(case=multipart_bodies())
@example(case=(b"--XyZ--\r\n", "multipart/form-data"))  # found: Starlette answered a plain-text 400
def test_fuzz_multipart_bodies(client: TestClient, case: tuple[bytes, str]) -> None:
    body, content_type = case
    assert_json_answer(client.post("/v1/predict", content=body, headers={"Content-Type": content_type}))


START = st.one_of(
    st.fixed_dictionaries({"sample_rate": st.sampled_from([8000, 16000, 44100, 384000, 1]),
                           "format": st.sampled_from(["pcm16", "f32"])}).map(json.dumps),
    st.fixed_dictionaries({"sample_rate": st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none()),
                           "format": st.one_of(st.text(max_size=6), st.integers())}).map(json.dumps),
    st.text(max_size=40),
)
FRAME = st.one_of(
    st.binary(max_size=4000),
    st.lists(st.floats(width=32), max_size=400).map(lambda v: np.asarray(v, "<f4").tobytes()),  # NaN, inf too
    st.sampled_from(['{"type": "stop"}', '{"type": "go"}', "", "[]"]),
)


@seed(23)
@FUZZ
@given(start=START, frames=st.lists(FRAME, max_size=8), stop=st.booleans())
@example(start='{"sample_rate": 16000, "format": "f32"}', frames=[np.array([np.nan], "<f4").tobytes()], stop=True)
def test_fuzz_websocket_sessions(client: TestClient, start: str, frames: list[Any], stop: bool) -> None:
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(start)
        for frame in frames:
            if isinstance(frame, bytes):
                ws.send_bytes(frame)
            else:
                ws.send_text(frame)
        if stop:
            ws.send_text('{"type": "stop"}')
        else:
            ws.close(1000)
            return
        messages = []
        while True:
            msg = ws.receive()
            if msg["type"] == "websocket.close":
                code = msg["code"]
                break
            messages.append(json.loads(msg["text"]))
    assert code in (1000, 1008), messages
    assert messages and messages[-1]["kind"] in ("summary", "error"), messages
    assert all(m.get("type") != "InternalError" for m in messages), messages


def test_server_still_answers(client: TestClient) -> None:
    """After the fuzzing above, in the same app: health and a valid upload still work."""
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.post("/v1/predict", content=SEEDS[0]).status_code == 200
