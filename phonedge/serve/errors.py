"""One place that maps errors to HTTP status codes and the JSON body every error answer has."""

from __future__ import annotations

from typing import Any

from ..errors import AudioDecodeError, AudioError, PhonedgeError


class ServeError(PhonedgeError):
    """A request the server refuses; carries its HTTP status."""

    status = 400


class BadRequestError(ServeError):
    """A request option or message is malformed."""

    status = 400


class UnauthorizedError(ServeError):
    """The token is missing or wrong."""

    status = 401


class RequestTooLargeError(ServeError):
    """A request body is larger than the server's limit."""

    status = 413


class AudioLimitError(ServeError):
    """An upload's audio is longer, or costs more to decode (channels x rate), than the server's limit."""

    status = 413


class ServerBusyError(ServeError):
    """The server holds as much audio as it allows at once; the client may try again shortly."""

    status = 503


def status_for(exc: BaseException) -> int:
    """The HTTP status of an error: 4xx for the client's mistakes, 500 for anything unexpected."""
    if isinstance(exc, ServeError):
        return exc.status
    if isinstance(exc, AudioDecodeError):
        return 400
    if isinstance(exc, AudioError):
        return 422
    if isinstance(exc, PhonedgeError):
        return 400
    return 500


def error_body(exc: BaseException) -> dict[str, Any]:
    """``{"error": one-line reason, "type": error class}``; unexpected errors do not show their internals."""
    if isinstance(exc, PhonedgeError):
        return {"error": " ".join(str(exc).split()), "type": type(exc).__name__}
    return {"error": "internal server error; the server log has the details", "type": "InternalError"}
