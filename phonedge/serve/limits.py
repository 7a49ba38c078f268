"""Request size limit (413) and the count of open streams."""

from __future__ import annotations

from typing import Any, Callable

from .errors import RequestTooLargeError


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes``, by Content-Length at once, else while they arrive."""

    def __init__(self, app: Callable[..., Any], max_bytes: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body over the server's limit of {self.max_bytes:,} bytes (phonedge serve --max-body-mb)"

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """Answer 413 before reading a declared-too-large body; count the bytes of any other."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                from starlette.responses import JSONResponse

                body = {"error": self._message(), "type": "RequestTooLargeError"}
                await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)
                return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise RequestTooLargeError(self._message())
            return message

        await self.app(scope, counted, send)


class StreamSlots:
    """How many WebSocket streams are open, against the limit; used from the event loop only."""

    def __init__(self, limit: int) -> None:
        """``limit`` streams at most (0 turns streaming off)."""
        self.limit = limit
        self.open = 0

    def take(self) -> bool:
        """Take a slot; False when all are taken."""
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        """Free a slot taken by :meth:`take`."""
        self.open -= 1
