"""Speech detectors for live audio: which 20 ms frames of the model's grid hold speech, decided block by block.

A detector sees every sample of a stream and costs almost nothing, so a stream runs the model
only while a segment is open. Each detector decides frame ``f`` (samples ``f*stride`` to
``f*stride + field``) from a fixed stretch of the stream, so its answers never depend on how the
audio was cut into blocks. Three kinds:

- :class:`EnergyDetector` (no dependencies): a frame is speech when its RMS level reaches the gate.
- :class:`SileroDetector` (``pip install --no-deps silero-vad``; only its ONNX file is used, through
  onnxruntime, never its torch code): Silero VAD's speech probability on 32 ms chunks at fixed
  stream positions, with hysteresis (speech starts at ``ON`` and lasts while the probability is
  at least ``OFF``); a frame takes the decision of the chunk holding its centre.
- :class:`CallableDetector`: a user's ``vad(frame, sample_rate) -> bool`` on each frame's stride.

Every kind also requires the frame to reach the energy gate when one is set, so digital silence
and quiet noise never open a segment.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Union

import numpy as np
from numpy.typing import NDArray
from numpy.lib.stride_tricks import sliding_window_view

from .errors import MissingExtraError, PhonedgeError
from .grid import FrameGrid

VAD_HINT = "pip install --no-deps silero-vad  (phonedge uses only its ONNX file; --no-deps keeps torch out)"
SILERO_FILE = "silero_vad/data/silero_vad.onnx"
# Silero VAD's documented input: 512 new samples at 16 kHz (256 at 8 kHz) after 64 (32) of context.
_SILERO_CHUNK = {16000: 512, 8000: 256}
_SILERO_CONTEXT = {16000: 64, 8000: 32}
ON, OFF = 0.5, 0.35

Vad = Callable[[NDArray[np.float32], int], bool]
_POWER_FLOOR = 1e-12


class SpeechDetector(Protocol):
    """Decides frames of the grid in order as samples arrive."""

    def push(self, x: NDArray[np.float32]) -> NDArray[np.bool_]:
        """Take the next samples; return the speech decisions of the frames they complete."""
        ...

    def flush(self, total_frames: int) -> NDArray[np.bool_]:
        """The stream ended: decide the remaining frames up to ``total_frames``."""
        ...

    def needed(self, frame: int) -> int:
        """How many stream samples deciding ``frame`` takes (when its decision can be known)."""
        ...


class _Framed:
    """Frame levels (dBFS over each frame's receptive field), each computed from its own samples only."""

    def __init__(self, grid: FrameGrid, gate_db: Optional[float]) -> None:
        self.grid, self.gate_db = grid, gate_db
        self._buf = np.zeros(0, dtype=np.float32)  # samples from frame self._next's start on
        self._next = 0

    def _frames(self, x: NDArray[np.float32]) -> tuple[int, NDArray[np.float32]]:
        """Append samples; return the first new frame and the samples of the new frames (from its start)."""
        self._buf = np.concatenate([self._buf, x]) if len(self._buf) else x
        first = self._next
        count = self.grid.frames_for(len(self._buf))
        window = self._buf[: self.grid.samples_for(count)]
        self._buf = self._buf[count * self.grid.stride :].copy()
        self._next += count
        return first, window

    def _loud(self, window: NDArray[np.float32]) -> NDArray[np.bool_]:
        count = self.grid.frames_for(len(window))
        if self.gate_db is None:
            return np.ones(count, dtype=bool)
        return frame_levels(window, self.grid)[:count] >= self.gate_db


def frame_levels(x: NDArray[np.float32], grid: FrameGrid) -> NDArray[np.float64]:
    """RMS level in dBFS of each whole frame of ``x`` (each from its own samples, whatever surrounds them)."""
    count = grid.frames_for(len(x))
    if count == 0:
        return np.zeros(0)
    frames = sliding_window_view(x, grid.receptive_field)[:: grid.stride][:count].astype(np.float64)
    return 10.0 * np.log10(np.einsum("ij,ij->i", frames, frames) / grid.receptive_field + _POWER_FLOOR)


class EnergyDetector(_Framed):
    """Speech = frame level at least ``gate_db`` (the dependency-free detector)."""

    def push(self, x: NDArray[np.float32]) -> NDArray[np.bool_]:
        """Decide the frames these samples complete."""
        return self._loud(self._frames(x)[1])

    def flush(self, total_frames: int) -> NDArray[np.bool_]:
        """Nothing is left: a frame is decided as soon as its field has arrived."""
        return np.zeros(0, dtype=bool)

    def needed(self, frame: int) -> int:
        """A frame's own field."""
        return self.grid.samples_for(frame + 1)


class CallableDetector(_Framed):
    """Speech = ``vad(samples of the frame's stride, rate)``, and loud enough."""

    def __init__(self, grid: FrameGrid, gate_db: Optional[float], vad: Vad) -> None:
        """Wrap the user's per-frame function."""
        super().__init__(grid, gate_db)
        self.vad = vad

    def push(self, x: NDArray[np.float32]) -> NDArray[np.bool_]:
        """Ask the function about each frame these samples complete."""
        _, window = self._frames(x)
        loud = self._loud(window)
        s = self.grid.stride
        said = np.array([bool(self.vad(window[f * s : (f + 1) * s], self.grid.sample_rate)) for f in range(len(loud))],
                        dtype=bool)
        return said & loud

    def flush(self, total_frames: int) -> NDArray[np.bool_]:
        """Nothing is left."""
        return np.zeros(0, dtype=bool)

    def needed(self, frame: int) -> int:
        """A frame's own field."""
        return self.grid.samples_for(frame + 1)


@functools.lru_cache(maxsize=4)
def _silero_session(path: str) -> Any:
    """One onnxruntime session per model file, shared by all streams (``run`` is thread-safe)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own error types for unreadable models
        raise PhonedgeError(f"cannot load the Silero VAD model {path}: {exc}") from None


def silero_model_path() -> Optional[Path]:
    """The ONNX file of the installed ``silero-vad`` package (found without importing it), or None."""
    try:
        dist = importlib.metadata.distribution("silero-vad")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(SILERO_FILE)))
    return path if path.is_file() else None


class SileroDetector(_Framed):
    """Silero VAD (ONNX) with hysteresis, on chunks at fixed stream positions, and the energy gate."""

    def __init__(self, grid: FrameGrid, gate_db: Optional[float], model: Union[str, Path, None] = None) -> None:
        """Load the model (default: the installed ``silero-vad`` package's file) for the grid's rate."""
        super().__init__(grid, gate_db)
        rate = grid.sample_rate
        if rate not in _SILERO_CHUNK:
            raise PhonedgeError(f"Silero VAD runs at 8000 or 16000 Hz, not the model's {rate} Hz; "
                                "use detector='energy'")
        path = Path(model) if model is not None else silero_model_path()
        if path is None:
            raise MissingExtraError(f"the Silero VAD detector needs its model file: {VAD_HINT}")
        if not path.is_file():
            raise PhonedgeError(f"Silero VAD model not found: {path}")
        self._session = _silero_session(str(path))
        self.chunk, context = _SILERO_CHUNK[rate], _SILERO_CONTEXT[rate]
        self._rate = np.array(rate, dtype=np.int64)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(context, dtype=np.float32)
        self._raw = np.zeros(0, dtype=np.float32)  # samples of the chunk being filled
        self._chunks: list[bool] = []  # decisions of chunks self._chunk0 on
        self._chunk0 = 0
        self._speaking = False
        self._loud_pending = np.zeros(0, dtype=bool)  # loudness of frames self._frame0 on, not yet decided
        self._frame0 = 0

    def _chunk_of(self, frame: int) -> int:
        return (frame * self.grid.stride + self.grid.receptive_field // 2) // self.chunk

    def needed(self, frame: int) -> int:
        """The end of the chunk holding the frame's centre (or the frame's field, if later)."""
        return max((self._chunk_of(frame) + 1) * self.chunk, self.grid.samples_for(frame + 1))

    def _run(self, chunk: NDArray[np.float32]) -> None:
        feed = np.concatenate([self._context, chunk])[None, :]
        prob, self._state = self._session.run(None, {"input": feed, "state": self._state, "sr": self._rate})
        self._context = chunk[-len(self._context) :].copy()
        p = float(np.asarray(prob).reshape(-1)[0])
        self._speaking = p >= (OFF if self._speaking else ON)
        self._chunks.append(self._speaking)

    def push(self, x: NDArray[np.float32]) -> NDArray[np.bool_]:
        """Run the chunks these samples complete; decide the frames whose chunks are done."""
        _, window = self._frames(x)
        self._loud_pending = np.concatenate([self._loud_pending, self._loud(window)])
        raw = np.concatenate([self._raw, x])
        whole = len(raw) // self.chunk * self.chunk
        for at in range(0, whole, self.chunk):
            self._run(raw[at : at + self.chunk])
        self._raw = raw[whole:].copy()
        return self._decide()

    def flush(self, total_frames: int) -> NDArray[np.bool_]:
        """Finish the last chunk with zeros, then decide every frame left."""
        if len(self._raw):
            self._run(np.concatenate([self._raw, np.zeros(self.chunk - len(self._raw), np.float32)]))
            self._raw = np.zeros(0, dtype=np.float32)
        return self._decide()

    def _decide(self) -> NDArray[np.bool_]:
        done = self._chunk0 + len(self._chunks)
        count = 0
        while count < len(self._loud_pending) and self._chunk_of(self._frame0 + count) < done:
            count += 1
        said = np.array([self._chunks[self._chunk_of(self._frame0 + i) - self._chunk0] for i in range(count)],
                        dtype=bool)
        out = said & self._loud_pending[:count]
        self._loud_pending = self._loud_pending[count:]
        self._frame0 += count
        drop = self._chunk_of(self._frame0) - self._chunk0
        if drop > 0:
            del self._chunks[:drop]
            self._chunk0 += drop
        return out


def vad_available() -> bool:
    """Whether the Silero VAD model file is installed."""
    return silero_model_path() is not None


def make_detector(kind: str, grid: FrameGrid, gate_db: Optional[float], vad: Optional[Vad] = None,
                  model: Union[str, Path, None] = None) -> SpeechDetector:
    """The detector a stream's options ask for ("auto": Silero when installed or given, else energy)."""
    if vad is not None:
        return CallableDetector(grid, gate_db, vad)
    if kind == "auto":
        kind = "silero" if model is not None or (vad_available() and grid.sample_rate in _SILERO_CHUNK) else "energy"
    if kind == "silero":
        return SileroDetector(grid, gate_db, model)
    if kind == "energy":
        if gate_db is None:
            raise PhonedgeError("the energy detector needs energy_gate_db (a level in dBFS), not None")
        return EnergyDetector(grid, gate_db)
    raise PhonedgeError(f"unknown detector {kind!r}; use 'auto', 'silero' or 'energy'")
