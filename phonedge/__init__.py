"""phonedge: run fine-tuned wav2vec2 CTC phoneme models with ONNX Runtime and numpy only."""

from ._version import __version__
from .chunking import ChunkPlan
from .decide import Classify
from .errors import (
    AudioError,
    AudioTooShortError,
    ModelBundleError,
    PhonedgeError,
    ProviderError,
    StreamClosedError,
    StreamError,
    StreamRateError,
)
from .recognizer import Recognizer, load
from .result import Prediction, Token
from .stream import Stream, StreamEvent, StreamOptions

__all__ = [
    "__version__",
    "load",
    "Recognizer",
    "Prediction",
    "Token",
    "ChunkPlan",
    "Classify",
    "Stream",
    "StreamEvent",
    "StreamOptions",
    "PhonedgeError",
    "AudioError",
    "AudioTooShortError",
    "ModelBundleError",
    "ProviderError",
    "StreamError",
    "StreamClosedError",
    "StreamRateError",
]
