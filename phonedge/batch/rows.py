"""One input to one row: what every engine's worker runs, so that all engines give the same rows."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..errors import PhonedgeError
from .schema import Row, error_row, ok_row


def open_path(path: str) -> str:
    """The path a worker opens for an input: absolute, so workers with another working folder find it."""
    return os.path.abspath(path)


def predict_row(recognizer: Any, path: str, opened: str, digest: str, classify: str = "ctc") -> Row:
    """The row of one input: transcribed, or the reason it failed (never an exception)."""
    try:
        return ok_row(path, recognizer.predict(opened, classify=classify), digest)
    except PhonedgeError as exc:
        return error_row(path, str(exc), digest)
    except Exception as exc:  # one odd file (an ONNX Runtime failure, a codec crash) must not stop a corpus
        return error_row(path, f"{type(exc).__name__}: {exc}", digest)


def predict_rows(recognizer: Any, items: Iterable[tuple[str, str]], digest: str, classify: str = "ctc") -> list[Row]:
    """Rows of (path, opened path) items, in order."""
    return [predict_row(recognizer, path, opened, digest, classify) for path, opened in items]
