"""A ``phonedge serve`` process on 127.0.0.1 and the audio fed to it, for the serving benchmarks (serve_load.py,
serve_limits.py, soak.py). The runtime's tests start their own (tests/serve_fixtures.py): they import no benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf


def utterances_with_pauses(files: list[Path], rate: int = 16000, pause: float = 1.5, lead: float = 0.5,
                           ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Recordings joined with silent pauses at ``rate`` (float32), and each one's span in seconds."""
    import soxr

    parts = [np.zeros(int(lead * rate), np.float32)]
    spans, t = [], lead
    for f in files:
        x, r = sf.read(f, dtype="float32")
        x = soxr.resample(x, r, rate).astype(np.float32) if r != rate else x
        spans.append((t, t + len(x) / rate))
        parts += [x, np.zeros(int(pause * rate), np.float32)]
        t += len(x) / rate + pause
    return np.concatenate(parts), spans


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``phonedge serve`` in a subprocess on 127.0.0.1; a context manager that stops it (SIGINT) on exit."""

    def __init__(self, bundle: Path, *args: str, env: Optional[dict[str, str]] = None, timeout: float = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        phonedge = str(Path(sys.executable).with_name("phonedge"))
        self.cmd = [phonedge, "serve", str(bundle), "--port", str(self.port), *args]
        self.env = {**os.environ, **(env or {})}
        self.timeout = timeout
        self.proc: Optional[subprocess.Popen[str]] = None
        self.result: Optional[tuple[int, str]] = None

    def __enter__(self) -> ServerProcess:
        import httpx

        # A file, not a pipe: nobody reads the log while the server runs, and a full pipe would block it.
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.stop()[1]}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=1,
                             headers=self._auth()).status_code in (200, 401):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not answer in time")

    def _auth(self) -> dict[str, str]:
        token = self.env.get("PHONEDGE_TOKEN")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def stop(self) -> tuple[int, str]:
        """Interrupt the server (once); its exit code and output."""
        assert self.proc is not None
        if self.result is not None:
            return self.result
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        self.result = (self.proc.returncode, self.log.read())
        self.log.close()
        return self.result

    def __exit__(self, *exc: object) -> None:
        self.stop()
