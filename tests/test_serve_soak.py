"""A short soak: repeated rounds of uploads and streams against one app give the library's answers and hold no
more Python memory as they go. The 30-minute run against a server process is ``make soak``
(benchmarks/serving/soak.py)."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import phonedge  # noqa: E402
from phonedge.serve import ServeSettings, create_app  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

RATE = 16000


def finals(events: list[Any]) -> list[dict[str, Any]]:
    return [{k: e.get(k) for k in ("text", "label", "start", "end")} for e in events if e.get("kind") == "final"]


def test_rounds_hold_no_more_memory_and_answer_like_the_library(layer_bundle: Path,
                                                                 real_recordings: list[Path]) -> None:
    rec = phonedge.load(layer_bundle, threads=1)
    bodies = [p.read_bytes() for p in real_recordings[:4]]
    expected_posts = [json.loads(json.dumps(rec.predict(p).to_dict(timestamps=False))) for p in real_recordings[:4]]
    import soxr

    speech = np.concatenate([sf.read(p, dtype="float32")[0] for p in real_recordings[:3]] + [np.zeros(16000)])
    audio = soxr.resample(speech, 8000, RATE)
    pcm = (np.clip(audio, -1, 1 - 2**-15) * 32768).astype("<i2")
    library = rec.stream()
    expected_finals = finals([e.to_dict() for e in library.accept(pcm, RATE) + library.finish()])
    expected_finals = json.loads(json.dumps(expected_finals))

    with TestClient(create_app(rec, ServeSettings(workers=2))) as c:
        def one_round() -> None:
            for body, expected in zip(bodies, expected_posts):
                assert c.post("/v1/predict", content=body).json() == expected
            with c.websocket_connect("/v1/stream") as ws:
                ws.send_text(json.dumps({"sample_rate": RATE, "format": "pcm16"}))
                ws.receive_text()
                data = pcm.tobytes()
                for i in range(0, len(data), 3200):
                    ws.send_bytes(data[i : i + 3200])
                ws.send_text('{"type": "stop"}')
                events = []
                while (msg := ws.receive())["type"] != "websocket.close":
                    events.append(json.loads(msg["text"]))
            assert events[-1]["kind"] == "summary" and finals(events) == expected_finals

        for _ in range(3):  # warm-up: caches, pools and allocators reach their size
            one_round()
        gc.collect()
        tracemalloc.start()
        try:
            one_round()
            gc.collect()
            first, _ = tracemalloc.get_traced_memory()
            for _ in range(6):
                one_round()
            gc.collect()
            last, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert last - first < 256 * 1024, f"Python memory grew by {(last - first) / 1024:.0f} KiB over 6 rounds"
