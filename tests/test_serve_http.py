"""HTTP API of ``phonedge serve``: every endpoint and every error answer, through Starlette's TestClient."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import phonedge  # noqa: E402
from phonedge.serve import ServeSettings, create_app  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402


@pytest.fixture(scope="module")
def rec(reference_bundles: dict[str, Path]) -> phonedge.Recognizer:
    return phonedge.load(reference_bundles["int8"], threads=1)


def client_for(rec: phonedge.Recognizer, **settings: object) -> TestClient:
    return TestClient(create_app(rec, ServeSettings(**settings)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(rec: phonedge.Recognizer) -> TestClient:
    with client_for(rec, workers=2) as c:
        yield c


def test_health(client: TestClient) -> None:
    r = client.get("/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["version"] == phonedge.__version__
    assert body["workers"] == 2 and body["streams"] == 0 and body["max_streams"] == 16


def test_model_describes_the_bundle(client: TestClient, rec: phonedge.Recognizer) -> None:
    body = client.get("/v1/model").json()
    assert body["sample_rate"] == rec.sample_rate
    assert body["vocab_size"] == len(rec.manifest.tokenizer.vocab)
    assert [lab["label"] for lab in body["labels"]] == [c.label for c in rec.labels] == ["0", "1", "2", "3"]
    assert body["quantization"] == rec.manifest.graph.quantization and body["quantization"]
    assert body["parity"] == rec.manifest.parity


@pytest.mark.parametrize("timestamps", [False, True])
def test_predict_raw_body_equals_library(client: TestClient, rec: phonedge.Recognizer,
                                         real_recordings: list[Path], timestamps: bool) -> None:
    for path in real_recordings[:4]:
        r = client.post(f"/v1/predict?timestamps={str(timestamps).lower()}", content=path.read_bytes())
        assert r.status_code == 200, r.text
        assert r.json() == rec.predict(path).to_dict(timestamps=timestamps)
        assert ("tokens" in r.json()) is timestamps


def test_predict_body_labelled_as_a_form_is_the_audio(client: TestClient, rec: phonedge.Recognizer,
                                                      real_recordings: list[Path]) -> None:
    path = real_recordings[2]  # what `curl --data-binary @a.wav` sends
    r = client.post("/v1/predict", content=path.read_bytes(),
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json() == rec.predict(path).to_dict(timestamps=False)


def test_predict_multipart_file(client: TestClient, rec: phonedge.Recognizer, real_recordings: list[Path]) -> None:
    path = real_recordings[1]
    r = client.post("/v1/predict", files={"file": (path.name, path.read_bytes(), "audio/wav")})
    assert r.status_code == 200, r.text
    assert r.json() == rec.predict(path).to_dict(timestamps=False)


def test_predict_other_formats_and_rates(client: TestClient, rec: phonedge.Recognizer,
                                          real_recordings: list[Path]) -> None:
    x, rate = sf.read(real_recordings[2], dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="FLAC")
    r = client.post("/v1/predict", content=buf.getvalue())
    assert r.status_code == 200, r.text
    expected = rec.predict(x, rate)
    assert r.json()["text"] == expected.text and r.json()["label"] == expected.label


def test_predict_classify_options(client: TestClient, rec: phonedge.Recognizer, real_recordings: list[Path]) -> None:
    path = real_recordings[3]
    nearest = client.post("/v1/predict?classify=nearest", content=path.read_bytes()).json()
    assert nearest["label"] == rec.predict(path, classify="nearest").label
    assert "label_probs" in nearest and nearest["label_probs"] == {}
    none = client.post("/v1/predict?classify=none", content=path.read_bytes()).json()
    assert "label" not in none and none["text"] == nearest["text"]


def test_predict_align_option(client: TestClient, rec: phonedge.Recognizer, real_recordings: list[Path]) -> None:
    path = next(p for p in real_recordings if rec.predict(p).label is not None)
    aligned = client.post("/v1/predict?align=true&timestamps=true", content=path.read_bytes()).json()
    assert aligned == rec.predict(path, align=True).to_dict(timestamps=True)
    assert aligned["alignment"]["label"] == aligned["label"] and aligned["alignment"]["units"]
    assert "alignment" not in client.post("/v1/predict", content=path.read_bytes()).json()


@pytest.mark.parametrize("query, words", [
    ("timestamps=maybe", "timestamps='maybe'"),
    ("align=2", "align='2'"),
    ("classify=vote", "classify must be one of ctc, nearest, got 'vote'"),
])
def test_bad_options_are_400(client: TestClient, real_recordings: list[Path], query: str, words: str) -> None:
    r = client.post(f"/v1/predict?{query}", content=real_recordings[0].read_bytes())
    assert r.status_code == 400
    assert words in r.json()["error"] and r.json()["type"] in ("BadRequestError", "PhonedgeError")


def _wav_bytes(x: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.parametrize("body, status, kind, words", [
    (b"", 400, "AudioDecodeError", "empty"),
    (b"RIFF\x00\x00garbage that is not audio" * 3, 400, "AudioDecodeError", "cannot decode request body"),
    (_wav_bytes(np.zeros(100, np.float32), 16000), 422, "AudioTooShortError", "shorter than the model's receptive"),
])
def test_bad_audio_gets_a_one_line_reason(client: TestClient, body: bytes, status: int, kind: str,
                                          words: str) -> None:
    r = client.post("/v1/predict", content=body)
    assert r.status_code == status
    err = r.json()
    assert err["type"] == kind and words in err["error"] and "\n" not in err["error"]
    assert "object at 0x" not in err["error"]
    assert "Traceback" not in r.text


def test_multipart_without_a_file_is_400(client: TestClient) -> None:
    r = client.post("/v1/predict", data={"note": "no file here"})  # url-encoded: taken as the audio itself
    assert r.status_code == 400 and r.json()["type"] == "AudioDecodeError"
    r = client.post("/v1/predict", data={"note": "no file here"}, files={"other": ("", b"", "text/plain")})
    assert r.status_code in (400, 422)
    r = client.post("/v1/predict", content=b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--xx--\r\n",
                    headers={"content-type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 400 and "holds no file" in r.json()["error"]


def test_wrong_method_and_unknown_path(client: TestClient) -> None:
    assert client.get("/v1/predict").status_code == 405
    assert client.get("/v1/nothing").status_code == 404


def test_body_over_the_limit_is_413(rec: phonedge.Recognizer, real_recordings: list[Path]) -> None:
    data = real_recordings[0].read_bytes()
    with client_for(rec, max_body_bytes=len(data) - 1) as c:
        r = c.post("/v1/predict", content=data)  # declared by Content-Length
        assert r.status_code == 413 and r.json()["type"] == "RequestTooLargeError"
        r = c.post("/v1/predict", content=iter([data[:1000], data[1000:]]))  # chunked: counted while read
        assert r.status_code == 413 and "limit" in r.json()["error"]
        r = c.post("/v1/predict", files={"file": ("a.wav", data, "audio/wav")})
        assert r.status_code == 413
    with client_for(rec, max_body_bytes=len(data)) as c:
        assert c.post("/v1/predict", content=data).status_code == 200


def test_token_is_required_everywhere(rec: phonedge.Recognizer, real_recordings: list[Path]) -> None:
    data = real_recordings[0].read_bytes()
    with client_for(rec, token="s3cret") as c:
        for method, path in [("GET", "/"), ("GET", "/v1/health"), ("GET", "/v1/model"), ("POST", "/v1/predict"),
                             ("GET", "/static/worklet.js")]:
            assert c.request(method, path).status_code == 401
            assert c.request(method, path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get("/v1/model")
        assert r.headers["www-authenticate"] == "Bearer" and "token" in r.json()["error"]
        ok = c.post("/v1/predict", content=data, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/v1/model?token=s3cret").status_code == 200
        assert c.get("/?token=s3cret").status_code == 200
        assert c.get("/v1/model?token=s3cre").status_code == 401


def test_page_and_its_worklet(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for needle in ('className = "final"', "audioWorklet.addModule", "/v1/stream", "/v1/predict", "autostart"):
        assert needle in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN: works offline
    js = client.get("/static/worklet.js")
    assert js.status_code == 200 and "registerProcessor" in js.text
    assert js.headers["content-type"].startswith("text/javascript")
    css = client.get("/static/page.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and ".final" in css.text
    assert 'withToken("/static/page.css")' in html
    assert client.get("/static/missing.js").status_code == 404
    assert client.get("/static/..%2F__init__.py").status_code == 404


def test_inference_runs_on_the_pool_not_the_event_loop(rec: phonedge.Recognizer,
                                                       real_recordings: list[Path]) -> None:
    threads: list[str] = []
    real = rec.predict

    def spy(*args: object, **kwargs: object) -> phonedge.Prediction:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    rec.predict = spy  # type: ignore[method-assign]
    try:
        with client_for(rec, workers=1) as c:
            assert c.post("/v1/predict", content=real_recordings[0].read_bytes()).status_code == 200
    finally:
        del rec.predict
    assert len(threads) == 1 and threads[0].startswith("phonedge-infer")


def test_settings_are_checked() -> None:
    with pytest.raises(phonedge.PhonedgeError, match="max_body_bytes=0"):
        ServeSettings(max_body_bytes=0)
    with pytest.raises(phonedge.PhonedgeError, match="token is empty"):
        ServeSettings(token=" ")
    assert ServeSettings().host == "127.0.0.1" and ServeSettings().max_body_bytes == 50_000_000


def test_each_error_gets_its_status() -> None:
    """The nearest class in serve.errors.STATUS decides: subclasses inherit, anything unexpected is a 500."""
    from phonedge.errors import AudioDecodeError, AudioFileNotFoundError, AudioTooShortError, PhonedgeError
    from phonedge.serve.errors import (AudioLimitError, BadRequestError, RequestTooLargeError, ServerBusyError,
                                       UnauthorizedError, status_for)

    cases = {BadRequestError: 400, UnauthorizedError: 401, RequestTooLargeError: 413, AudioLimitError: 413,
             ServerBusyError: 503, AudioDecodeError: 400, AudioTooShortError: 422, AudioFileNotFoundError: 422,
             PhonedgeError: 400, ValueError: 500, RuntimeError: 500}
    assert {cls: status_for(cls("x")) for cls in cases} == cases
