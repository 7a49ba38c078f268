"""Long files in bounded memory: decoded in blocks, down-mixed and resampled as they arrive, run window by window.

A file longer than one window is never held whole: libsndfile reads it a block at a time (it
decodes every format it knows that way), each block is down-mixed and fed to a streaming soxr
resampler, and the resampled samples go to the same :class:`~phonedge.chunking.WindowCursor` that
:meth:`Recognizer.logits` uses, so only one window plus one block of samples is held. What still
grows with the length is per-frame output: the logits (4.6 KiB a second for a 23-token vocabulary,
99 MiB for 6 hours), gathered into one array sized from the header (:class:`FrameRows`), and while
the Prediction is built, their log-probabilities: about 2x the logits at the peak, since the class
decision reads them as they are (benchmarks/long_audio/long_file.py).

The result is bit-identical to decoding the whole file first: libsndfile's blocks concatenate to
its one-shot read, the channel mean is taken per frame, soxr's stream equals its one-shot
``resample`` at the same quality (checked in tests/test_longform.py for 8 to 96 kHz), and the
cursor hands out the same windows whatever the arrival pattern. Files of one window or less keep
the one-shot path (they are held whole either way).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Optional, Protocol

import numpy as np
from numpy.typing import NDArray

from .audio import RESAMPLE_QUALITY, PathLike, check_file, check_length, decode_errors, mono, no_samples
from .chunking import ChunkPlan, WindowCursor
from .decide import ClassDecider
from .decoding import Decoding
from .errors import AudioDecodeError
from .result import Prediction
from .speech import _BLOCK_FRAMES as EVIDENCE_FRAMES  # gathered in speech_evidence's blocks: its sums, its order
from .speech import SpeechEvidence, speech_evidence

if TYPE_CHECKING:
    from soundfile import SoundFile

# Frames read per block at the file's own rate: 1.4 s at 48 kHz, 0.5 MiB per channel as float32.
BLOCK_FRAMES = 1 << 16

# libsndfile 1.2's MP3 decoder gives other samples for other read sizes where a stream's bit
# reservoir confuses mpg123 (0.2% of the samples of a 149 s libsndfile-encoded test file differed,
# by up to 0.09, between one read and 64 Ki-frame reads), so block-wise reading cannot equal the
# one-shot read there. MP3s up to this length are read whole as before (5 min of 48 kHz stereo is
# 110 MiB of float32); longer ones in blocks, where the one-shot read would cost gigabytes.
MP3_WHOLE_S = 300.0

# Room for frames beyond the header's length (resampler rounding); more than that grows the array.
EXTRA_FRAMES = 16


class WindowedModel(Protocol):
    """What reading a file in blocks needs of a recogniser: its window plan, its decoding layer, window logits."""

    chunking: ChunkPlan

    @property
    def decoding(self) -> Decoding:
        """The decoding layer of the model's bundle."""
        ...

    def window_logits(self, window: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits (frames, classes) of one window of samples at the model rate, normalised on its own."""
        ...


def header(path: PathLike) -> Optional[tuple[int, int, str]]:
    """(frames, sample rate, libsndfile format) a file's header announces; None when it does not open as audio."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # the one-shot path reports why, with the same message as always
        return None
    return int(info.frames), int(info.samplerate), str(info.format)


def reads_in_blocks(model: WindowedModel, path: PathLike, sample_rate: Optional[int] = None) -> bool:
    """Whether ``predict`` reads PATH in blocks: a file whose header says it is longer than one window.

    An MP3 is read in blocks only beyond ``MP3_WHOLE_S`` (see there).
    """
    if sample_rate is not None or not os.path.isfile(path):
        return False
    found = header(path)
    if found is None or found[1] <= 0:
        return False
    frames, rate, kind = found
    grid = model.decoding.grid
    window = model.chunking.chunk_samples(grid.sample_rate, grid.stride, grid.receptive_field)
    return frames * grid.sample_rate > window * rate and not read_whole(kind, frames / rate)


def read_whole(kind: str, seconds: float) -> bool:
    """Whether a file of libsndfile format KIND must be read whole to equal ``prepare_audio``: MP3s to MP3_WHOLE_S."""
    return kind == "MP3" and seconds <= MP3_WHOLE_S


def read_blocks(path: PathLike, target_rate: int, block_frames: int = BLOCK_FRAMES) -> Iterator[NDArray[np.float32]]:
    """Mono float32 blocks of an audio file at ``target_rate``, equal in all to ``prepare_audio`` read whole."""
    p = check_file(path)
    with open_sound(str(p), str(p)) as f:
        yield from sound_blocks(f, str(p), target_rate, block_frames)


def open_sound(source: object, where: str) -> SoundFile:
    """A libsndfile reader of SOURCE (a path or a file object) at its start, as ``sf.read`` starts it."""
    import soundfile as sf

    with decode_errors(where):
        f = sf.SoundFile(source)
        if f.seekable():  # as sf.read does: libsndfile's MP3 decoder gives other samples without it
            f.seek(0)
    return f


def sound_blocks(
    f: SoundFile, where: str, target_rate: int, block_frames: int = BLOCK_FRAMES
) -> Iterator[NDArray[np.float32]]:
    """Mono float32 blocks of an open file at ``target_rate``: down-mixed, then resampled by one soxr stream."""
    stream = None
    if f.samplerate != target_rate:
        import soxr

        stream = soxr.ResampleStream(f.samplerate, target_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    seen = 0
    while True:
        with decode_errors(where):
            block = f.read(block_frames, dtype="float32", always_2d=True)
        if len(block) == 0:
            break
        seen += len(block)
        x = mono(block, where)
        yield x if stream is None else stream.resample_chunk(x)
    if seen == 0:
        raise AudioDecodeError(no_samples(where))
    if stream is not None:
        yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def predict_file(
    model: WindowedModel, path: PathLike, decider: ClassDecider, return_logits: bool = False
) -> Prediction:
    """``predict`` of a file read in blocks: the Prediction its whole read would give."""
    logits, n_samples, evidence = file_logits(model, path, decider.weighs_evidence)
    return model.decoding.prediction(logits, n_samples, decider, return_logits, evidence)


def file_logits(
    model: WindowedModel, path: PathLike, with_evidence: bool = False
) -> tuple[NDArray[np.float32], int, Optional[SpeechEvidence]]:
    """Logits of a file, its length in model-rate samples and (asked) its speech evidence, a window at a time.

    The evidence is gathered in the blocks ``speech_evidence`` takes and merged in order, so it
    equals ``speech_evidence`` of the whole file.
    """
    grid = model.decoding.grid
    cursor = WindowCursor(model.chunking, grid.sample_rate, grid.stride, grid.receptive_field)
    per_block = grid.samples_for(EVIDENCE_FRAMES)
    evidence: Optional[SpeechEvidence] = SpeechEvidence() if with_evidence else None
    judged = 0  # the first sample of the evidence block not yet gathered
    held = np.zeros(0, np.float32)  # samples from `base` on
    base = total = 0
    found = header(path)
    expected = grid.frames_for(-(-found[0] * grid.sample_rate // found[1])) if found and found[1] > 0 else 0
    rows = FrameRows(expected + EXTRA_FRAMES)

    def run(final: bool) -> None:
        nonlocal evidence, judged
        for chunk in cursor.advance(total, final):
            window = held[chunk.start - base : chunk.stop - base]
            rows.add(model.window_logits(window)[chunk.keep_from : chunk.keep_to])
        while evidence is not None and (judged + per_block <= total if not final else judged < total):
            block = held[judged - base : judged - base + per_block]
            if grid.frames_for(len(block)) == 0:
                break
            evidence = evidence.merged(speech_evidence(block, grid))
            judged += EVIDENCE_FRAMES * grid.stride

    for block in read_blocks(path, grid.sample_rate):
        if len(block) == 0:
            continue
        held = np.concatenate([held, block])
        total += len(block)
        run(final=False)
        keep = min(cursor.next_start, judged) if evidence is not None else cursor.next_start
        held, base = held[keep - base :], keep
    check_length(total, str(path), grid.sample_rate, grid.receptive_field)
    run(final=True)
    return rows.array(), total, evidence


class FrameRows:
    """Per-frame rows gathered into one array sized from the header's length (grown if it understated it).

    One allocation instead of a window-sized piece per window and a concatenation at the end: the
    end needs no second copy, and no small long-lived pieces sit between the windows' short-lived
    buffers, which kept the allocator's heap from being reused (RSS grew with the file's length).
    """

    def __init__(self, expected: int) -> None:
        """Room for EXPECTED rows, allocated with the first ones."""
        self.expected = expected
        self.buffer: Optional[NDArray[np.float32]] = None
        self.count = 0

    def add(self, rows: NDArray[np.float32]) -> None:
        """Append ROWS (n, width)."""
        need = self.count + len(rows)
        if self.buffer is None:
            self.buffer = np.empty((max(self.expected, need), rows.shape[1]), rows.dtype)
        elif need > len(self.buffer):
            grown = np.empty((max(need, 2 * len(self.buffer)), rows.shape[1]), rows.dtype)
            grown[: self.count] = self.buffer[: self.count]
            self.buffer = grown
        self.buffer[self.count : need] = rows
        self.count = need

    def array(self) -> NDArray[np.float32]:
        """The rows so far, (count, width); a copy only when the header overstated the length by half or more."""
        assert self.buffer is not None, "no window was run"
        if 2 * self.count <= len(self.buffer):
            return self.buffer[: self.count].copy()
        return self.buffer[: self.count]
