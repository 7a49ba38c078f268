"""phonedge: run fine-tuned wav2vec2 CTC phoneme models with ONNX Runtime and numpy only."""

from ._version import __version__
from .chunking import ChunkPlan
from .errors import AudioError, ModelBundleError, PhonedgeError
from .recognizer import Recognizer, load
from .result import Prediction, Token

__all__ = [
    "__version__",
    "load",
    "Recognizer",
    "Prediction",
    "Token",
    "ChunkPlan",
    "PhonedgeError",
    "AudioError",
    "ModelBundleError",
]
