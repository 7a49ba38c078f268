"""phonedge: run fine-tuned wav2vec2 CTC phoneme models with ONNX Runtime and numpy only."""

from ._version import __version__
from .alignment import AlignedUnit, Alignment
from .batch_policy import BatchPolicy
from .chunking import ChunkPlan
from .decide import Classify
from .decoding import Decoding, LogitsEngine
from .deprecation import renamed_attributes
from .errors import (
    AlignmentError,
    AlignmentTooLongError,
    AlignmentTooShortError,
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioTooShortError,
    BatchOutputError,
    BundleNotFoundError,
    EmptyTranscriptError,
    EvalListError,
    EvalListNotFoundError,
    ExportError,
    InvalidAudioError,
    InvalidInputError,
    MicrophoneError,
    MissingExtraError,
    ModelBundleError,
    PhonedgeError,
    ProviderError,
    StreamClosedError,
    StreamError,
    StreamRateError,
    UnknownLabelError,
    UnknownUnitError,
)
from .grid import FrameGrid
from .manifest import ClassLabel
from .recognizer import Outcome, Recognizer, load
from .result import Prediction, Token
from .stream import Stream, StreamEvent, StreamOptions

__all__ = [
    "__version__",
    "load",
    "Recognizer",
    "Outcome",
    "Prediction",
    "Token",
    "ClassLabel",
    "Alignment",
    "AlignedUnit",
    "BatchPolicy",
    "ChunkPlan",
    "Classify",
    "Decoding",
    "FrameGrid",
    "LogitsEngine",
    "Stream",
    "StreamEvent",
    "StreamOptions",
    "PhonedgeError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioDecodeError",
    "AudioTooShortError",
    "InvalidAudioError",
    "ModelBundleError",
    "BundleNotFoundError",
    "ProviderError",
    "ExportError",
    "MissingExtraError",
    "EvalListError",
    "EvalListNotFoundError",
    "InvalidInputError",
    "StreamError",
    "StreamClosedError",
    "StreamRateError",
    "BatchOutputError",
    "MicrophoneError",
    "AlignmentError",
    "AlignmentTooShortError",
    "AlignmentTooLongError",
    "EmptyTranscriptError",
    "UnknownUnitError",
    "UnknownLabelError",
]

__getattr__ = renamed_attributes(
    __name__, {"EvalManifestError": "EvalListError", "EvalManifestNotFoundError": "EvalListNotFoundError"}
)
