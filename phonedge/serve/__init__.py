"""``phonedge serve``: an HTTP + WebSocket service with a live page (the ``serve`` extra: Starlette, uvicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import ENV_TOKEN, ServeSettings

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from ..recognizer import Recognizer

__all__ = ["ServeSettings", "create_app", "serve", "ENV_TOKEN"]


def _require_extra() -> None:
    from ..errors import MissingExtraError

    try:
        import python_multipart  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            f"phonedge serve needs the 'serve' extra ({exc.name} is missing): pip install 'phonedge[serve]'"
        ) from None


def create_app(recognizer: Recognizer, settings: ServeSettings | None = None) -> Starlette:
    """The ASGI app serving ``recognizer`` (see :func:`phonedge.serve.app.create_app`)."""
    _require_extra()
    from .app import create_app as _create

    return _create(recognizer, settings)


def serve(bundle: Any, settings: ServeSettings, provider: str = "cpu") -> None:
    """Load ``bundle`` and serve it until interrupted."""
    _require_extra()
    from .app import serve as _serve

    _serve(bundle, settings, provider)
