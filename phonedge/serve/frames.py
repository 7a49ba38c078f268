"""The WebSocket stream's wire format: the start message and binary frames of any size."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict

import numpy as np
from numpy.typing import NDArray

from .errors import BadRequestError

FORMATS: Dict[str, "np.dtype[Any]"] = {"pcm16": np.dtype("<i2"), "f32": np.dtype("<f4")}
MAX_SAMPLE_RATE = 384_000


@dataclass(frozen=True)
class StartMessage:
    """The client's first message: ``{"sample_rate": 16000, "format": "pcm16"}``, optionally ``"align": true``."""

    sample_rate: int
    format: str
    align: bool = False

    @classmethod
    def parse(cls, text: str) -> StartMessage:
        """Read and check the start message; BadRequestError says what is wrong with it."""
        example = '{"sample_rate": 16000, "format": "pcm16"}'
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise BadRequestError(f"the start message is not JSON; send {example} first") from None
        if not isinstance(data, dict):
            raise BadRequestError(f"the start message must be a JSON object like {example}")
        unknown = sorted(set(data) - {"sample_rate", "format", "align"})
        if unknown:
            raise BadRequestError(f"the start message has unknown fields {unknown}; it takes sample_rate, format "
                                  "and align")
        rate, fmt = data.get("sample_rate"), data.get("format")
        if isinstance(rate, bool) or not isinstance(rate, int) or not 0 < rate <= MAX_SAMPLE_RATE:
            raise BadRequestError(f"start message: sample_rate must be an integer in Hz (1..{MAX_SAMPLE_RATE}), "
                                  f"got {rate!r}")
        if fmt not in FORMATS:
            raise BadRequestError(f"start message: format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        align = data.get("align", False)
        if not isinstance(align, bool):
            raise BadRequestError(f"start message: align must be true or false, got {align!r}")
        return cls(rate, fmt, align)


def is_stop(text: str) -> bool:
    """Whether a text message is the stop message ``{"type": "stop"}``; anything else is refused."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if data == {"type": "stop"}:
        return True
    raise BadRequestError(
        'after the start message, text messages must be {"type": "stop"}; audio goes in binary frames'
    )


class FrameDecoder:
    """Turns binary frames into samples; a sample split across two frames is joined."""

    def __init__(self, fmt: str) -> None:
        """Decode ``fmt`` (``pcm16`` little-endian or ``f32`` little-endian)."""
        self.dtype = FORMATS[fmt]
        self._carry = b""

    def feed(self, data: bytes) -> NDArray[Any]:
        """Samples of this frame plus the bytes left over from the last one (maybe none)."""
        if self._carry:
            data = self._carry + data
        usable = len(data) - len(data) % self.dtype.itemsize
        self._carry = data[usable:]
        return np.frombuffer(data[:usable], dtype=self.dtype)

    @property
    def leftover(self) -> int:
        """Bytes of an incomplete last sample still held."""
        return len(self._carry)
