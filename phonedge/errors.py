"""The typed error tree: every user mistake raises one of these with a message that says what to do."""

from __future__ import annotations

from .deprecation import renamed_attributes


class PhonedgeError(Exception):
    """Base class of every error phonedge raises on purpose."""


class AudioError(PhonedgeError, ValueError):
    """The audio given to the recogniser cannot be used."""


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """An audio path does not exist."""


class AudioDecodeError(AudioError):
    """A file exists but cannot be decoded as audio (empty, truncated, not audio)."""


class AudioTooShortError(AudioError):
    """The audio is shorter than the model's receptive field."""


class InvalidAudioError(AudioError):
    """An array input has the wrong type, shape, dtype, sample rate or non-finite samples."""


class ModelBundleError(PhonedgeError):
    """A bundle folder is missing, incomplete, corrupt or of another format version."""


class BundleNotFoundError(ModelBundleError, FileNotFoundError):
    """The bundle folder, its manifest or its ONNX file does not exist."""


class ProviderError(PhonedgeError, ValueError):
    """An ONNX Runtime execution provider was asked for that this installation lacks."""


class ExportError(PhonedgeError):
    """An export could not be done (bad checkpoint, bad output folder, failed parity gate)."""


class MissingExtraError(PhonedgeError, ImportError):
    """An optional dependency group (an extra such as ``export``) is not installed."""


class EvalListError(PhonedgeError, ValueError):
    """An eval list (TSV/CSV of path, transcript, label) is missing, empty or malformed."""


class EvalListNotFoundError(EvalListError, FileNotFoundError):
    """The eval list file does not exist."""


class InvalidInputError(PhonedgeError, ValueError):
    """A scoring or metrics function was given values it cannot use (shapes, ids, empty inputs)."""


class StreamError(PhonedgeError):
    """A live stream was used wrongly (see the subclasses)."""


class StreamClosedError(StreamError):
    """``accept`` or ``finish`` was called on a stream after ``finish``; call ``reset`` to start over."""


class StreamRateError(StreamError, InvalidAudioError):
    """A block's sample rate differs from the rate the stream started with."""


class BatchOutputError(PhonedgeError):
    """A batch output folder cannot be used (held by another run, parts of another format, a damaged part)."""


class MicrophoneError(PhonedgeError):
    """No microphone could be opened (none present, busy, or the device/rate refused)."""


class AlignmentError(PhonedgeError, ValueError):
    """A forced alignment cannot be made (see the subclasses)."""


class EmptyTranscriptError(AlignmentError):
    """The transcript to align holds no units."""


class UnknownUnitError(AlignmentError):
    """A transcript holds a unit that is not in the model's vocabulary."""


class UnknownLabelError(AlignmentError):
    """A class label was asked for that the bundle (or the call) does not have."""


class AlignmentTooShortError(AlignmentError):
    """The audio has fewer frames than the transcript needs (one per unit, plus one between repeats)."""


class AlignmentTooLongError(AlignmentError):
    """Per-unit scores over this many frames and units would need more memory than allowed (times alone do not)."""


__getattr__ = renamed_attributes(
    __name__, {"EvalManifestError": "EvalListError", "EvalManifestNotFoundError": "EvalListNotFoundError"}
)
