"""Token authentication: ``Authorization: Bearer T`` or a ``token`` query parameter (browsers' WebSockets)."""

from __future__ import annotations

import hmac
from typing import Any, Callable, Optional
from urllib.parse import parse_qs

def presented_token(scope: dict[str, Any]) -> Optional[str]:
    """The token a request carries: the Bearer header first, else the ``token`` query parameter."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return credentials.strip()
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


def token_matches(expected: str, presented: Optional[str]) -> bool:
    """Constant-time comparison, so timing does not leak how much of a guess was right."""
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


class TokenAuth:
    """ASGI middleware: with a token set, every HTTP request and WebSocket needs it."""

    def __init__(self, app: Callable[..., Any], token: Optional[str]) -> None:
        """Wrap ``app``; ``token`` None lets everyone in."""
        self.app = app
        self.token = token

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """Answer 401 (HTTP) or refuse the WebSocket handshake with 401 when the token is wrong."""
        if (
            self.token is None
            or scope["type"] not in ("http", "websocket")
            or token_matches(self.token, presented_token(scope))
        ):
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        body = {"error": "missing or wrong token: send 'Authorization: Bearer TOKEN' (or ?token=TOKEN)",
                "type": "UnauthorizedError"}
        response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if scope["type"] == "http":
            await response(scope, receive, send)
        elif "websocket.http.response" in scope.get("extensions", {}):
            from starlette.websockets import WebSocket

            await WebSocket(scope, receive, send).send_denial_response(response)
        else:  # servers without the denial extension can only refuse the handshake (HTTP 403)
            await send({"type": "websocket.close", "code": 1008})
