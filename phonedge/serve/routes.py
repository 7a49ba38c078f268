"""The HTTP routes' handlers: predict, health, model description and the page (the WebSocket is websocket.py)."""

from __future__ import annotations

import asyncio
import math
from importlib import resources
from typing import Any, Optional

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._version import __version__
from ..recognizer import Recognizer
from .errors import BadRequestError
from .settings import ServeSettings
from .state import ServerState
from .uploads import Header, Reservation, check_header, decode_upload, read_header

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
NO_CLASSES = "none"
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise BadRequestError(f"query option {name}={raw!r}: use true or false")


def _classify(request: Request) -> str:
    """The decision method; the recogniser checks it (one place), ``none`` skips the class decision."""
    return request.query_params.get("classify", "ctc")


def predict_upload(rec: Recognizer, data: bytes, where: str, header: Header, classify: str,
                   settings: ServeSettings, reservation: Reservation, align: bool = False) -> Any:
    """Decode an uploaded file within the server's limits and transcribe it (runs on a pool thread)."""
    samples = decode_upload(data, where, header, rec.sample_rate, settings, reservation)
    if classify == NO_CLASSES:
        return rec.predict(samples, rec.sample_rate, labels=[])
    return rec.predict(samples, rec.sample_rate, classify=classify, align=align)  # type: ignore[arg-type]


async def _upload(request: Request, max_bytes: int) -> tuple[bytes, str]:
    """The audio of a request: a multipart form's (first) file, else the raw body."""
    # Any other content type is the audio itself (curl --data-binary labels it x-www-form-urlencoded).
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            async with request.form(max_files=1, max_fields=16, max_part_size=max_bytes) as form:
                for value in form.values():
                    if not isinstance(value, str):  # a file field (UploadFile); other fields are text
                        return await value.read(), f"upload {value.filename or 'file'!r}"
        except HTTPException as exc:  # Starlette's plain-text 400 for a malformed form (found by fuzzing)
            raise BadRequestError(f"malformed multipart body: {exc.detail}; send the audio as a file field "
                                  "(curl -F file=@a.wav) or as the raw body") from None
        raise BadRequestError("the multipart form holds no file; send the audio as a file field "
                              "(curl -F file=@a.wav)")
    return await request.body(), "request body"


async def predict(request: Request) -> Response:
    """``POST /v1/predict``: the body (or a multipart file) is audio in any format ``predict`` reads."""
    state: ServerState = request.app.state.phonedge
    timestamps = _flag(request, "timestamps", False)
    align = _flag(request, "align", False)
    classify = _classify(request)
    settings, rec = state.settings, state.recognizer
    data, where = await _upload(request, settings.max_body_bytes)
    header = await asyncio.to_thread(read_header, data, where)
    check_header(header, settings, where)  # 413 before decoding
    need = min(math.ceil(header.seconds * rec.sample_rate), int(settings.max_audio_seconds * rec.sample_rate))
    reservation = await state.budget.reserve(need, settings.queue_timeout)  # 503 when it stays full
    try:
        pred = await state.pool.run(predict_upload, rec, data, where, header, classify, settings, reservation, align)
    finally:
        reservation.release()
    return JSONResponse(pred.to_dict(timestamps=timestamps))


async def health(request: Request) -> Response:
    """``GET /v1/health``: liveness and load."""
    state: ServerState = request.app.state.phonedge
    return JSONResponse({
        "status": "ok",
        "version": __version__,
        "workers": state.pool.workers,
        "queued": state.pool.queued,
        "streams": state.slots.open,
        "max_streams": state.slots.limit,
    })


def describe_model(rec: Recognizer) -> dict[str, Any]:
    """What the bundle is: rate, vocabulary, labels, quantization and the parity figures measured at export."""
    m = rec.manifest
    return {
        "bundle": rec.bundle.name,
        "sample_rate": rec.sample_rate,
        "frame_seconds": m.audio.frame_stride / m.audio.sample_rate,
        "vocab_size": len(m.tokenizer.vocab),
        "tokenizer": m.tokenizer.kind,
        "labels": [{"label": c.label, "name": c.name, "transcript": c.transcript} for c in m.labels],
        "quantization": m.graph.quantization,
        "graph_bytes": m.graph.size_bytes,
        "parity": m.parity,
        "source": {k: v for k, v in m.source.items() if k != "model"},  # not the exporting machine's path
        "versions": m.versions,
    }


async def model(request: Request) -> Response:
    """``GET /v1/model``: the loaded bundle's description."""
    state: ServerState = request.app.state.phonedge
    return JSONResponse(describe_model(state.recognizer))


def _static(name: str) -> Optional[bytes]:
    try:
        return (resources.files(__package__) / "static" / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


async def page(request: Request) -> Response:
    """``GET /`` and ``GET /static/NAME``: the live page and its scripts, shipped in the package."""
    name = request.path_params.get("name", "index.html")
    suffix = name[name.rfind("."):] if "." in name else ""
    body = _static(name) if suffix in STATIC_TYPES and "/" not in name else None
    if body is None:
        return JSONResponse({"error": f"no such file: {name}", "type": "NotFound"}, status_code=404)
    return Response(body, media_type=STATIC_TYPES[suffix], headers={"Cache-Control": "no-cache"})
