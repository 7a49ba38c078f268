"""``phonedge serve`` as a real uvicorn process on 127.0.0.1: started and stopped by the tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
ws_client = pytest.importorskip("websockets.sync.client")

import phonedge  # noqa: E402
from serve_fixtures import ServerProcess  # noqa: E402

PHONEDGE = str(Path(sys.executable).with_name("phonedge"))


def test_real_server_http_websocket_token_and_shutdown(layer_bundle: Path, tmp_path: Path) -> None:
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(12000) / 7)).astype(np.float32), 8000)
    expected = phonedge.load(layer_bundle).predict(wav).to_dict(timestamps=True)
    server = ServerProcess(layer_bundle, "--workers", "2", env={"PHONEDGE_TOKEN": "tok"})
    with server:
        auth = {"Authorization": "Bearer tok"}
        assert httpx.get(server.url + "/v1/health").status_code == 401
        assert httpx.get(server.url + "/v1/health", headers=auth).json()["workers"] == 2
        r = httpx.post(server.url + "/v1/predict?timestamps=1", content=wav.read_bytes(), headers=auth, timeout=60)
        assert r.status_code == 200 and r.json() == expected
        r = httpx.post(server.url + "/v1/predict", files={"file": ("a.wav", wav.read_bytes())}, headers=auth,
                       timeout=60)
        assert r.status_code == 200 and r.json()["text"] == expected["text"]
        ws_url = f"ws://127.0.0.1:{server.port}/v1/stream"
        with pytest.raises(Exception) as refused:
            ws_client.connect(ws_url, open_timeout=10).close()
        assert "401" in str(refused.value)
        with ws_client.connect(ws_url + "?token=tok", open_timeout=10) as ws:
            ws.send('{"sample_rate": 16000, "format": "wav"}')
            err = json.loads(ws.recv(timeout=10))
            assert err["kind"] == "error" and "format must be one of" in err["error"]
        with ws_client.connect(ws_url, additional_headers=auth, open_timeout=10) as ws:
            ws.send('{"sample_rate": 8000, "format": "f32"}')
            assert json.loads(ws.recv(timeout=10))["kind"] == "ready"
            ws.send((0.1 * np.sin(np.arange(12000) / 7)).astype("<f4").tobytes())
            ws.send('{"type": "stop"}')
            msgs = [json.loads(m) for m in ws]
            assert msgs[-1]["kind"] == "summary" and msgs[-1]["audio_seconds"] == 1.5
    code, output = server.stop()
    assert code == 0, output
    assert f"http://127.0.0.1:{server.port}" in output  # loopback unless told otherwise
    assert "Traceback" not in output


def test_cli_serve_errors_are_one_line(tmp_path: Path) -> None:
    out = subprocess.run([PHONEDGE, "serve", str(tmp_path / "missing")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and out.stderr.startswith("error: model bundle not found")
    assert "Traceback" not in out.stderr
    out = subprocess.run([PHONEDGE, "serve", str(tmp_path), "--token", ""], capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 2 and "token is empty" in out.stderr


def test_runtime_and_cli_do_not_import_the_server_stack() -> None:
    code = ("import sys, phonedge, phonedge.cli, phonedge.serve\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'websockets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_missing_extra_is_a_clear_error(layer_bundle: Path) -> None:
    code = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "uvicorn":
            raise ImportError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
from phonedge.cli import main
sys.argv = ["phonedge", "serve", {str(layer_bundle)!r}]
main()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "needs the 'serve' extra (uvicorn is missing): pip install 'phonedge[serve]'" in out.stderr
    assert "Traceback" not in out.stderr
