"""``WS /v1/stream``: one live stream per WebSocket, its events sent back as JSON text messages."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Optional

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import PhonedgeError
from .errors import BadRequestError, error_body
from .frames import FrameDecoder, StartMessage, is_stop
from .pool import LIVE
from .state import ServerState

log = logging.getLogger("phonedge.serve")

CLOSE_NORMAL, CLOSE_POLICY, CLOSE_ERROR, CLOSE_BUSY = 1000, 1008, 1011, 1013


class _Gone(Exception):
    """The client disconnected."""


class StreamSession:
    """Reads a client's audio while a second task feeds it to the stream on the pool, so frames coalesce."""

    def __init__(self, ws: WebSocket, state: ServerState) -> None:
        """Serve one accepted WebSocket."""
        self.ws = ws
        self.state = state
        self.pending: list[np.ndarray] = []
        self.backlog = 0  # samples in pending
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.reason: Optional[str] = None  # why reading ended: "stop", "limit" or "idle"
        self.received = 0
        self.finals: list[dict[str, Any]] = []

    async def _receive(self) -> dict[str, Any]:
        try:
            message = await asyncio.wait_for(self.ws.receive(), self.state.settings.idle_timeout)
        except asyncio.TimeoutError:
            return {"type": "idle"}
        if message["type"] == "websocket.disconnect":
            raise _Gone
        return dict(message)

    async def _start(self) -> StartMessage:
        message = await self._receive()
        if message["type"] == "idle":
            raise BadRequestError(f"no start message within {self.state.settings.idle_timeout:g} s")
        if message.get("text") is None:
            raise BadRequestError('the first message must be the JSON text {"sample_rate": 16000, "format": "pcm16"}')
        return StartMessage.parse(message["text"])

    async def _read(self, start: StartMessage) -> None:
        decoder = FrameDecoder(start.format)
        limit = int(self.state.settings.max_stream_seconds * start.sample_rate)
        while self.reason is None:
            message = await self._receive()
            if message["type"] == "idle":
                self.reason = "idle"
            elif message.get("bytes") is not None:
                samples = decoder.feed(message["bytes"])
                if self.received + len(samples) >= limit:
                    samples = samples[: limit - self.received]
                    self.reason = "limit"
                if len(samples):
                    self.received += len(samples)
                    self.pending.append(samples)
                    self.backlog += len(samples)
                    self.wake.set()
                    await self._wait_for_room(start)
            elif is_stop(message.get("text") or ""):
                self.reason = "stop"
        self.wake.set()

    async def _wait_for_room(self, start: StartMessage) -> None:
        """Stop reading while the audio not yet processed is over the backlog limit: TCP then slows the client."""
        cap = int(self.state.settings.max_stream_backlog_seconds * start.sample_rate)
        while self.backlog > cap:
            self.drained.clear()
            await self.drained.wait()

    async def _send_events(self, events: list[Any]) -> None:
        for event in events:
            data = event.to_dict()
            if data.get("kind") == "final":
                self.finals.append({k: data.get(k) for k in ("text", "label", "label_reason", "start", "end")})
            await self.ws.send_text(json.dumps(data, ensure_ascii=False))

    async def _process(self, stream: Any, start: StartMessage) -> None:
        pool = self.state.pool
        while True:
            await self.wake.wait()
            self.wake.clear()
            blocks, self.pending, self.backlog = self.pending, [], 0
            self.drained.set()
            if blocks:
                samples = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
                await self._send_events(await pool.run(stream.accept, samples, start.sample_rate, priority=LIVE))
            if self.reason is not None and not self.pending:
                break
        await self._send_events(await pool.run(stream.finish, priority=LIVE))

    def _summary(self, start: StartMessage) -> dict[str, Any]:
        notes = {
            "stop": "the client sent stop",
            "limit": f"the stream reached the server's limit of {self.state.settings.max_stream_seconds:g} s of audio",
            "idle": f"no message for {self.state.settings.idle_timeout:g} s",
        }
        return {"kind": "summary", "reason": self.reason, "note": notes[self.reason or "stop"],
                "audio_seconds": round(self.received / start.sample_rate, 4), "finals": self.finals}

    async def _fail(self, exc: BaseException) -> None:
        if not isinstance(exc, PhonedgeError):
            log.exception("stream failed", exc_info=exc)
        body = {"kind": "error", **error_body(exc)}
        try:
            await self.ws.send_text(json.dumps(body, ensure_ascii=False))
            await self.ws.close(CLOSE_POLICY if isinstance(exc, PhonedgeError) else CLOSE_ERROR)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass

    async def run(self) -> None:
        """Serve the stream from the start message to the summary (or the error, or the client leaving)."""
        try:
            start = await self._start()
            rec = self.state.recognizer
            stream = rec.stream(align=start.align)
            await self.ws.send_text(json.dumps({
                "kind": "ready", "sample_rate": start.sample_rate, "format": start.format,
                "model_sample_rate": rec.sample_rate, "max_seconds": self.state.settings.max_stream_seconds,
                "labels": [c.label for c in rec.labels],
            }))
        except _Gone:
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error message, never a traceback
            await self._fail(exc)
            return
        reader = asyncio.create_task(self._read(start))
        processor = asyncio.create_task(self._process(stream, start))
        try:
            done, _ = await asyncio.wait({reader, processor}, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            await processor
        except _Gone:
            return
        except Exception as exc:  # noqa: BLE001
            await self._fail(exc)
            return
        finally:
            for task in (reader, processor):
                task.cancel()
                if task.done() and not task.cancelled():
                    task.exception()  # both may have failed: retrieved, so asyncio logs no "never retrieved"
        try:
            await self.ws.send_text(json.dumps(self._summary(start), ensure_ascii=False))
            await self.ws.close(CLOSE_NORMAL if self.reason == "stop" else CLOSE_POLICY)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass


async def stream_endpoint(ws: WebSocket) -> None:
    """``WS /v1/stream``: refuse over the stream limit (close 1013), else serve one stream."""
    state: ServerState = ws.app.state.phonedge
    await ws.accept()
    if not state.slots.take():
        body = {"kind": "error", "type": "BusyError",
                "error": f"the server already serves {state.slots.limit} streams (its limit); try again later"}
        await ws.send_text(json.dumps(body))
        await ws.close(CLOSE_BUSY)
        return
    try:
        await StreamSession(ws, state).run()
    finally:
        state.slots.give_back()
