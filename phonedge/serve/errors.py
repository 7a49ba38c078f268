"""One place that maps errors to HTTP status codes and the JSON body every error answer has."""

from __future__ import annotations

from typing import Any

from ..errors import AudioDecodeError, AudioError, PhonedgeError


class ServeError(PhonedgeError):
    """A request the server refuses; its HTTP status is in STATUS."""


class BadRequestError(ServeError):
    """A request option or message is malformed."""


class UnauthorizedError(ServeError):
    """The token is missing or wrong."""


class RequestTooLargeError(ServeError):
    """A request body is larger than the server's limit."""


class AudioLimitError(ServeError):
    """An upload's audio is longer, or costs more to decode (channels x rate), than the server's limit."""


class ServerBusyError(ServeError):
    """The server holds as much audio as it allows at once; the client may try again shortly."""


# The HTTP status of each error the server raises, and of the library's errors a request can cause.
STATUS: dict[type[BaseException], int] = {
    UnauthorizedError: 401,
    RequestTooLargeError: 413,
    AudioLimitError: 413,
    ServerBusyError: 503,
    ServeError: 400,
    AudioDecodeError: 400,
    AudioError: 422,
    PhonedgeError: 400,
}


def status_for(exc: BaseException) -> int:
    """The HTTP status of an error (its nearest class in STATUS): 4xx for the client's mistakes, else 500."""
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 500)


def error_body(exc: BaseException) -> dict[str, Any]:
    """``{"error": one-line reason, "type": error class}``; unexpected errors do not show their internals."""
    if isinstance(exc, PhonedgeError):
        return {"error": " ".join(str(exc).split()), "type": type(exc).__name__}
    return {"error": "internal server error; the server log has the details", "type": "InternalError"}
