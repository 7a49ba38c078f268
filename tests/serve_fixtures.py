"""Helpers for the server's tests: a test-only fake stream, recordings joined with pauses, and a ``phonedge serve``
subprocess (the tests' own: runtime tests import nothing from benchmarks/, tests/test_layers.py checks it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, Optional

import numpy as np

from phonedge.recognizer import Recognizer

PHONEDGE = str(Path(sys.executable).with_name("phonedge"))


def utterances_with_pauses(files: list[Path], rate: int = 16000, pause: float = 1.5, lead: float = 0.5,
                           ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """FILES at RATE (float32) after LEAD s of silence, each followed by PAUSE s of it; each one's (start, end) s."""
    import soundfile as sf
    import soxr

    clips = []
    for f in files:
        x, r = sf.read(f, dtype="float32")
        clips.append(soxr.resample(x, r, rate).astype(np.float32) if r != rate else x)
    starts = list(accumulate((len(c) / rate + pause for c in clips), initial=lead))
    gap = np.zeros(int(pause * rate), np.float32)
    audio = np.concatenate([np.zeros(int(lead * rate), np.float32), *(part for c in clips for part in (c, gap))])
    return audio, [(start, start + len(c) / rate) for start, c in zip(starts, clips)]


class ServerProcess:
    """``phonedge serve BUNDLE ARGS...`` on a free loopback port, ready once the port accepts a connection;
    interrupted (SIGINT, as Ctrl-C does) by ``stop`` or on leaving the ``with`` block."""

    def __init__(self, bundle: Path, *args: str, env: Optional[dict[str, str]] = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [PHONEDGE, "serve", str(bundle), "--port", str(self.port), *args]
        self.env = {**os.environ, **(env or {})}
        self.result: Optional[tuple[int, str]] = None

    def __enter__(self) -> ServerProcess:
        # Output to a file: nobody reads it while the server runs, and a full pipe would block the server.
        self.output = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"phonedge serve is not listening:\n{self.stop()[1]}")

    def stop(self) -> tuple[int, str]:
        """Interrupt the server (once); its exit code and output."""
        if self.result is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                code = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
            self.output.seek(0)
            self.result = (code, self.output.read())
            self.output.close()
        return self.result

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class FakeEvent:
    """Stands for a StreamEvent in protocol tests: ``to_dict`` is all the server uses."""

    kind: str
    text: str
    start: float = 0.0
    end: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "start": self.start, "end": self.end, "label": None}


@dataclass
class FakeStream:
    """Records every block it is given; one partial per accept, one final (the sample count) on finish."""

    blocks: list[np.ndarray] = field(default_factory=list)
    rates: list[Optional[int]] = field(default_factory=list)
    finished: bool = False

    def accept(self, samples: np.ndarray, sample_rate: Optional[int] = None) -> list[FakeEvent]:
        assert not self.finished
        self.blocks.append(np.array(samples))
        self.rates.append(sample_rate)
        return [FakeEvent("partial", f"{self.count} samples")]

    def finish(self) -> list[FakeEvent]:
        self.finished = True
        return [FakeEvent("final", f"{self.count} samples", 0.0, self.count / 16000)]

    @property
    def count(self) -> int:
        return int(sum(len(b) for b in self.blocks))

    def samples(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros(0)


def with_fake_streams(rec: Recognizer) -> list[FakeStream]:
    """Make ``rec.stream()`` hand out FakeStreams (on this instance only) and return the list of them."""
    made: list[FakeStream] = []

    def stream(*args: Any, **kwargs: Any) -> FakeStream:
        made.append(FakeStream())
        return made[-1]

    rec.stream = stream  # type: ignore[method-assign]
    return made
