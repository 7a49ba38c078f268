"""One input to one row: what every engine's worker runs, so that all engines give the same rows."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import PhonedgeError
from .schema import Row, error_row, ok_row


@dataclass(frozen=True)
class RowRequest:
    """What every worker asks of each input: the class decision method, and whether to align the decided class."""

    classify: str = "ctc"
    align: bool = False


DEFAULT_REQUEST = RowRequest()


@dataclass(frozen=True)
class WorkerSetup:
    """What each worker (process or Ray actor) sets up once: bundle and threads, the digest rows carry, the request."""

    bundle: str
    threads: int
    digest: str
    request: RowRequest = DEFAULT_REQUEST


def open_path(path: str) -> str:
    """The path a worker opens for an input: absolute, so workers with another working folder find it."""
    return os.path.abspath(path)


def predict_rows(recognizer: Any, items: Iterable[tuple[str, str]], digest: str,
                 request: RowRequest = DEFAULT_REQUEST) -> list[Row]:
    """Rows of (path, opened path) items, in order: transcribed, or the reason each failed (never an exception)."""
    pairs = list(items)
    rows = []
    outcomes = recognizer.predict_each([o for _, o in pairs], classify=request.classify, align=request.align)
    for (path, _opened), outcome in zip(pairs, outcomes):
        if outcome.prediction is not None:
            rows.append(ok_row(path, outcome.prediction, digest))
        elif isinstance(outcome.error, PhonedgeError):
            rows.append(error_row(path, str(outcome.error), digest))
        else:  # one odd file (an ONNX Runtime failure, a codec crash) must not stop a corpus
            rows.append(error_row(path, f"{type(outcome.error).__name__}: {outcome.error}", digest))
    return rows
