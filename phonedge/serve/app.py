"""The application factory and the runner behind ``phonedge serve``."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, AsyncIterator, Optional

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from ..errors import PhonedgeError
from ..recognizer import Recognizer
from . import routes
from .auth import TokenAuth
from .errors import error_body, status_for
from .limits import BodyLimit, StreamSlots
from .pool import InferencePool
from .settings import ServeSettings
from .state import ServerState
from .websocket import stream_endpoint
from .uploads import SampleBudget

log = logging.getLogger("phonedge.serve")


async def _error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, PhonedgeError):
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body(exc), status_code=status_for(exc))


def create_app(recognizer: Recognizer, settings: Optional[ServeSettings] = None) -> Starlette:
    """The ASGI app serving ``recognizer``: routes, token check, size limit and the inference pool."""
    settings = settings or ServeSettings()
    budget = SampleBudget(int(settings.max_audio_in_flight_seconds * recognizer.sample_rate))
    state = ServerState(settings, recognizer, InferencePool(settings.worker_count), StreamSlots(settings.max_streams),
                        budget)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.pool.close()

    app = Starlette(
        routes=[
            Route("/", routes.page, methods=["GET"]),
            Route("/static/{name}", routes.page, methods=["GET"]),
            Route("/v1/health", routes.health, methods=["GET"]),
            Route("/v1/model", routes.model, methods=["GET"]),
            Route("/v1/predict", routes.predict, methods=["POST"]),
            WebSocketRoute("/v1/stream", stream_endpoint),
        ],
        middleware=[
            Middleware(TokenAuth, token=settings.token),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        exception_handlers={Exception: _error, PhonedgeError: _error},
        lifespan=lifespan,
    )
    app.state.phonedge = state
    return app


def serve(bundle: Any, settings: ServeSettings, provider: str = "cpu") -> None:
    """Load ``bundle`` and run the server until interrupted (uvicorn, one process, the pool inside)."""
    import uvicorn

    from ..recognizer import load

    rec = load(bundle, provider=provider, threads=settings.session_threads)
    app = create_app(rec, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", ws="websockets-sansio",
                ws_max_size=settings.max_frame_bytes, timeout_graceful_shutdown=5)
