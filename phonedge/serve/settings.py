"""The server's settings: one dataclass holding every default of ``phonedge serve``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ..errors import PhonedgeError

ENV_TOKEN = "PHONEDGE_TOKEN"
MB = 1_000_000


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ServeSettings:
    """What ``phonedge serve`` listens on, who it lets in and how much it takes from each client."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 0
    """Inference threads (0: one per core, at most 4); requests and streams queue for them."""
    threads: int = 0
    """ONNX Runtime intra-op threads per call (0: the cores shared out between the workers)."""
    token: Optional[str] = None
    max_body_bytes: int = 50 * MB
    max_streams: int = 16
    max_stream_seconds: float = 600.0
    """Audio one WebSocket stream may send before the server ends it."""
    idle_timeout: float = 30.0
    """Seconds a stream may stay silent on the wire (no message at all) before the server ends it."""
    max_frame_bytes: int = 4 * 2**20
    max_stream_backlog_seconds: float = 30.0
    """Audio a stream may have received but not yet processed; beyond it the server stops reading (back-pressure)."""
    max_audio_seconds: float = 600.0
    """Audio one upload may hold (413 above it, from the header before decoding, else while decoding)."""
    max_channel_rate: int = 384_000
    """Channels x sample rate an upload may have (e.g. stereo at 192 kHz, 8 channels at 48 kHz): decoding cost."""
    max_audio_in_flight_seconds: float = 2400.0
    """Audio (at the model rate) all uploads being decoded or transcribed may hold together; 503 beyond."""
    queue_timeout: float = 10.0
    """Seconds an upload waits for room under max_audio_in_flight_seconds before the 503."""

    def __post_init__(self) -> None:
        """Refuse values that cannot work, with the option's name."""
        checks = {
            "port": 0 <= self.port <= 65535,
            "workers": self.workers >= 0,
            "threads": self.threads >= 0,
            "max_body_bytes": self.max_body_bytes > 0,
            "max_streams": self.max_streams >= 0,
            "max_stream_seconds": self.max_stream_seconds > 0,
            "idle_timeout": self.idle_timeout > 0,
            "max_frame_bytes": self.max_frame_bytes > 0,
            "max_audio_seconds": self.max_audio_seconds > 0,
            "max_stream_backlog_seconds": self.max_stream_backlog_seconds > 0,
            "max_channel_rate": self.max_channel_rate > 0,
            "max_audio_in_flight_seconds": self.max_audio_in_flight_seconds >= self.max_audio_seconds,
            "queue_timeout": self.queue_timeout >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise PhonedgeError(f"invalid server settings: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")
        if self.token is not None and not self.token.strip():
            raise PhonedgeError("the token is empty; pass a non-empty --token or leave it out")

    @property
    def worker_count(self) -> int:
        """The number of inference threads actually started."""
        return self.workers or _default_workers()

    @property
    def session_threads(self) -> int:
        """ONNX Runtime intra-op threads per call, so that all workers together fill the cores once."""
        if self.threads:
            return self.threads
        return max(1, (os.cpu_count() or 1) // self.worker_count)

    @property
    def is_loopback(self) -> bool:
        """Whether the server listens on this machine only."""
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
