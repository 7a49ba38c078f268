"""Live front ends of a Stream: replaying files as if live, and the microphone (``phonedge[mic]``)."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

import numpy as np

from .audio import decode_file
from .errors import MicrophoneError, MissingExtraError
from .result import label_text
from .stream import Stream, StreamEvent

MIC_HINT = "pip install 'phonedge[mic]' (sounddevice; it needs the PortAudio library, e.g. apt install libportaudio2)"


class EventPrinter:
    """Writes events: JSON lines, or finals as lines with the partial on one updating terminal line."""

    def __init__(self, out: TextIO, as_json: bool, live_line: bool) -> None:
        """``live_line``: show partials by rewriting one line (only on a terminal)."""
        self.out, self.as_json, self.live_line = out, as_json, live_line
        self._shown = False

    def show(self, event: StreamEvent, source: Optional[str] = None) -> None:
        """Write one event."""
        if self.as_json:
            record = {"path": source, **event.to_dict()} if source is not None else event.to_dict()
            self.out.write(_json(record) + "\n")
        elif event.kind == "partial":
            if self.live_line:
                self.out.write("\r\x1b[K" + event.text)
                self._shown = True
        else:
            self.clear()
            if event.text:
                parts = ([source] if source is not None else []) + [f"{event.start:.2f}-{event.end:.2f}", event.text]
                decision = label_text(event.label, event.label_reason)
                if decision is not None:
                    parts.append(decision)
                self.out.write("\t".join(parts) + "\n")
        self.out.flush()

    def clear(self) -> None:
        """Erase the partial line, if one is shown."""
        if self._shown:
            self.out.write("\r\x1b[K")
            self._shown = False


def _json(record: dict[str, Any]) -> str:
    import json

    return json.dumps(record, ensure_ascii=False)


def replay_file(stream: Stream, path: Path, block_ms: float, realtime: bool,
                sleep: Callable[[float], None] = time.sleep) -> Iterable[StreamEvent]:
    """Feed a file to a stream in blocks of ``block_ms`` at its own rate; in real time when asked."""
    samples, rate = decode_file(path)
    block = max(1, int(round(rate * block_ms / 1000)))
    started = time.monotonic()
    for at in range(0, len(samples), block):
        if realtime:
            ahead = at / rate - (time.monotonic() - started)
            if ahead > 0:
                sleep(ahead)
        yield from stream.accept(samples[at : at + block], rate)
    yield from stream.finish()


def listen(stream: Stream, printer: EventPrinter, device: Optional[str], block_ms: float) -> None:
    """Capture the microphone into a stream until Ctrl-C (or the input ends); print events as they come.

    The audio callback only queues blocks; decoding runs on this thread, so a slow window never
    makes the sound card drop input (blocks wait in the queue instead).
    """
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: sounddevice is there but PortAudio is not
        raise MissingExtraError(f"phonedge listen needs the microphone extra ({exc}): {MIC_HINT}") from None
    rate = stream.model_rate
    blocks: queue.Queue[np.ndarray] = queue.Queue()

    def on_audio(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        blocks.put(indata.copy())

    dev: Any = int(device) if device is not None and device.isdigit() else device
    try:
        capture = sd.InputStream(device=dev, channels=1, samplerate=rate, dtype="float32",
                                 blocksize=max(1, int(rate * block_ms / 1000)), callback=on_audio)
    except Exception as exc:  # PortAudio reports every device problem as its own error types
        where = f"input device {device!r}" if device is not None else "the default input device"
        raise MicrophoneError(f"cannot open {where} at {rate} Hz: {str(exc).strip() or type(exc).__name__}") from None
    try:
        with capture:
            while capture.active:
                try:
                    block = blocks.get(timeout=0.1)
                except queue.Empty:
                    continue
                for event in stream.accept(block, rate):
                    printer.show(event)
    except KeyboardInterrupt:
        pass
    try:  # what was captured before the end is still decoded (a second Ctrl-C skips it)
        while not blocks.empty():
            for event in stream.accept(blocks.get_nowait(), rate):
                printer.show(event)
    except KeyboardInterrupt:
        pass
    for event in stream.finish():
        printer.show(event)
    printer.clear()
