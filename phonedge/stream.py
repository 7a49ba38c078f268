"""Live audio: a Stream turns blocks of samples into partial and final events; finals equal ``predict``.

How it works (all on the model's frame grid, so nothing depends on how the caller cuts blocks):

- Sliding windows of ``left_s + hop_s + right_s`` seconds, one every ``hop_s``, are decoded by the
  same engine as long offline audio (:class:`phonedge.chunking.WindowCursor`, each window
  normalised on its own). A window's middle ``hop_s`` of frames is *committed*: later windows
  never recompute it. Its right-context frames are *tentative* until the next window commits them.
- Endpointing (:mod:`phonedge.endpoint`) marks each frame speech or not: the greedy path emits a
  token there (or a user VAD says speech), and the frame is louder than an energy gate. A segment
  opens at the first speech frame and closes after ``endpoint_silence_s`` of non-speech, or at
  ``max_segment_s``. Its edges hug the sound: it starts where the run of loud frames leading to
  its first speech frame starts and ends where the loud run holding its last speech frame ends,
  each widened by ``edge_margin_s``, but at most ``pre_speech_s`` before the first and
  ``post_speech_s`` after the last speech frame (CTC tokens fall mid-sound, and the model's labels
  move with the silence around an utterance). Without a gate the edges are those two bounds.
- Each closed segment's final is ``recognizer.predict`` on exactly the segment's samples, with
  token times shifted by the segment's start: streaming changes when an answer comes, not what
  it is. Partials, decoded from the window frames, may differ from the final.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional

import numpy as np
from numpy.typing import NDArray

from .audio import RESAMPLE_QUALITY, as_mono_float32, check_sample_rate
from .chunking import ChunkPlan, Chunk, WindowCursor
from .decide import Classify, check_classify
from .decoding import LogitsEngine, path_confidence
from .endpoint import Endpointer, EndpointRules
from .errors import PhonedgeError, StreamClosedError, StreamRateError
from .manifest import ClassLabel
from .result import Token, label_fields
from .scoring import log_softmax
from .speech import SPEECH_GATE_DB, frame_energy_db

Vad = Callable[[NDArray[np.float32], int], bool]


@dataclass(frozen=True)
class StreamOptions:
    """Settings of a live stream, in seconds unless said (defaults chosen by benchmarks/streaming.py).

    The window and endpoint defaults are the cheapest of those swept (left 0.4-1.0 s, hop 0.2-0.4 s,
    right 0.2-0.4 s, endpoint 0.4-0.5 s) that keep an xlsr-53-size int8 model under 0.5 s of
    compute per second of audio on 2 cores and every FSDD test utterance but one in its own
    segment (left 0.4 s split one more).

    Attributes:
        left_s, hop_s, right_s: the sliding window: left context, the frames each window commits,
            right context. Cost per second of audio is about (left+hop+right)/hop model-seconds.
        endpoint_silence_s: a run of non-speech this long after speech ends the segment.
        pre_speech_s: the most audio kept before the first speech frame of a segment.
        post_speech_s: the most audio kept after the last speech frame (at most ``endpoint_silence_s``).
        edge_margin_s: a segment starts this much before the run of loud frames (above
            ``energy_gate_db``) leading to its first speech frame and ends this much after the loud
            run holding its last one, within the two bounds above; no effect without a gate.
        max_segment_s: a segment longer than this is cut there (bounds a final's cost and memory).
        energy_gate_db: frames quieter than this RMS level (dBFS, over the frame's receptive
            field) never count as speech; None turns the gate off.
        vad: optional ``vad(frame, sample_rate) -> bool`` called on every 20 ms frame (320
            samples at 16 kHz); when given it decides speech instead of the model's output.
        partials: emit partial events (finals only when False).
        labels: classes for finals' decisions (default: the bundle's); classify: "ctc"/"nearest".
    """

    left_s: float = 0.5
    hop_s: float = 0.3
    right_s: float = 0.2
    endpoint_silence_s: float = 0.4
    pre_speech_s: float = 0.3
    post_speech_s: float = 0.3
    edge_margin_s: float = 0.02
    max_segment_s: float = 15.0
    energy_gate_db: Optional[float] = SPEECH_GATE_DB
    vad: Optional[Vad] = field(default=None, compare=False)
    partials: bool = True
    labels: Optional[tuple[ClassLabel, ...]] = None
    classify: Classify = "ctc"

    def __post_init__(self) -> None:
        """Refuse settings that cannot work, with the reason."""
        for name in ("hop_s", "endpoint_silence_s", "max_segment_s"):
            if not getattr(self, name) > 0:
                raise PhonedgeError(f"StreamOptions.{name} must be > 0, got {getattr(self, name)}")
        for name in ("left_s", "right_s", "pre_speech_s", "post_speech_s", "edge_margin_s"):
            if not getattr(self, name) >= 0:
                raise PhonedgeError(f"StreamOptions.{name} must be >= 0, got {getattr(self, name)}")
        if self.post_speech_s > self.endpoint_silence_s:
            raise PhonedgeError(
                f"StreamOptions.post_speech_s ({self.post_speech_s}) must not exceed endpoint_silence_s "
                f"({self.endpoint_silence_s}): the kept tail is part of the silence that ends a segment"
            )
        if self.vad is not None and not callable(self.vad):
            raise PhonedgeError("StreamOptions.vad must be a callable vad(frame, sample_rate) -> bool")
        check_classify(self.classify)

    def replace(self, **changes: Any) -> StreamOptions:
        """A copy with some settings changed (unknown names are refused)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise PhonedgeError(f"unknown stream option(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    def plan(self) -> ChunkPlan:
        """The sliding window as a chunk plan of the shared windowing engine."""
        return ChunkPlan(self.left_s + self.hop_s + self.right_s, self.left_s, self.right_s)


@dataclass(frozen=True)
class StreamEvent:
    """A partial (the open segment so far) or a final (the closed segment, equal to ``predict``).

    Times are seconds from the start of the stream; ``emitted_at`` is the amount of stream audio
    that had arrived when the event could be emitted. ``stable`` tokens of partials never change
    in later partials of the segment; ``tentative`` ones may. ``start_sample``/``end_sample``
    delimit the segment's samples at the model rate.
    """

    kind: Literal["partial", "final"]
    text: str
    tokens: list[Token]
    stable: list[Token]
    tentative: list[Token]
    start: float
    end: float
    emitted_at: float
    confidence: float
    label: Optional[str] = None
    label_probs: Optional[dict[str, float]] = None
    label_score: Optional[float] = None
    label_reason: Optional[str] = None
    start_sample: int = 0
    end_sample: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-ready), tokens as in ``Prediction.to_dict``."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "text": self.text,
            "start": round(self.start, 4),
            "end": round(self.end, 4),
            "emitted_at": round(self.emitted_at, 4),
            "confidence": round(self.confidence, 6),
            "tokens": [t.to_dict() for t in self.tokens],
            "stable": [t.to_dict() for t in self.stable],
            "tentative": [t.to_dict() for t in self.tentative],
        }
        out.update(label_fields(self.label, self.label_probs, self.label_score, self.label_reason))
        return out

    def to_json(self) -> str:
        """One-line JSON form."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


class Stream:
    """One live audio source on a shared model (a :class:`Recognizer`); not itself shared between threads."""

    def __init__(self, engine: LogitsEngine, options: StreamOptions) -> None:
        """Use :meth:`Recognizer.stream` rather than this."""
        self.engine = engine
        self.options = options
        self._decoding = engine.decoding
        self._grid = grid = self._decoding.grid
        self._rate, self._stride, self._field = grid.sample_rate, grid.stride, grid.receptive_field
        self._decider = self._decoding.decider(options.labels, options.classify)
        self._plan = options.plan()
        step = grid.step
        self._rules = EndpointRules(
            silence=max(1, round(options.endpoint_silence_s / step)),
            pre=round(options.pre_speech_s / step),
            post=round(options.post_speech_s / step),
            max_frames=max(1, round(options.max_segment_s / step)),
            margin=round(options.edge_margin_s / step),
        )
        self.reset()

    @property
    def model_rate(self) -> int:
        """The rate the model runs at; blocks at other rates are resampled to it."""
        return self._rate

    @property
    def sample_rate(self) -> Optional[int]:
        """The rate of the blocks given (fixed by the first ``accept``), or None before any."""
        return self._in_rate

    @property
    def time(self) -> float:
        """Seconds of audio accepted so far (at the model rate)."""
        return self._n / self._rate

    def reset(self) -> None:
        """Forget everything: a new stream, time 0, any block rate."""
        self._cursor = WindowCursor(self._plan, self._rate, self._stride, self._field)
        self._endpoint = Endpointer(self._rules)
        self._in_rate: Optional[int] = None
        self._resampler: Any = None
        self._buf = np.zeros(0, dtype=np.float32)
        self._pending: list[NDArray[np.float32]] = []  # blocks after _buf, not yet joined
        self._buf0 = 0  # stream sample index of _buf[0]
        self._n = 0
        self._lp: Optional[NDArray[np.float32]] = None  # committed frames' log-probs from frame _lp0 on
        self._lp0 = 0
        self._closed = False
        self._last_partial: Optional[tuple[Any, ...]] = None

    def accept(self, samples: NDArray[Any], sample_rate: Optional[int] = None) -> list[StreamEvent]:
        """Feed one block of samples (frames[, channels], any size and PCM/float dtype); return new events."""
        if self._closed:
            raise StreamClosedError("this stream is finished; call reset() to start a new one")
        self._set_rate(sample_rate)
        x = as_mono_float32(samples, "stream block")
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        self._append(x)
        return self._advance(final=False)

    def finish(self) -> list[StreamEvent]:
        """End the stream: decode the rest, close the open segment (its final), return the last events."""
        if self._closed:
            raise StreamClosedError("this stream is already finished; call reset() to start a new one")
        self._closed = True
        if self._resampler is not None:
            self._append(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        events = self._advance(final=True)
        closed = self._endpoint.finish(self._grid.frames_for(self._n))
        if closed is not None:
            events.append(self._final(closed, self._n / self._rate))
        return events

    # -- internals -------------------------------------------------------------------------

    def _set_rate(self, sample_rate: Optional[int]) -> None:
        if sample_rate is not None:
            check_sample_rate(sample_rate)
        if self._in_rate is None:
            self._in_rate = int(sample_rate or self._rate)
            if self._in_rate != self._rate:
                import soxr

                self._resampler = soxr.ResampleStream(self._in_rate, self._rate, 1, dtype="float32",
                                                      quality=RESAMPLE_QUALITY)
        elif sample_rate is not None and int(sample_rate) != self._in_rate:
            raise StreamRateError(
                f"this stream started at {self._in_rate} Hz and got a block at {sample_rate} Hz; "
                "resample the block, or reset() the stream for a new source"
            )

    def _append(self, x: NDArray[np.float32]) -> None:
        # Blocks are joined only when a window needs them: tiny blocks cost no copying of the buffer.
        if len(x):
            self._pending.append(x)
            self._n += len(x)

    def _samples(self, start: int, stop: int) -> NDArray[np.float32]:
        if self._pending:
            self._buf = np.concatenate([self._buf, *self._pending])
            self._pending = []
        return self._buf[start - self._buf0 : stop - self._buf0]

    def _advance(self, final: bool) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for chunk in self._cursor.advance(self._n, final):
            events += self._window(chunk)
        self._trim()
        return events

    def _window(self, chunk: Chunk) -> list[StreamEvent]:
        """Decode one window: commit its middle frames, endpoint, and emit events."""
        x = self._samples(chunk.start, chunk.stop)
        lp = log_softmax(self.engine.window_logits(x))
        speech, loud = self._speech(x, lp)
        first = chunk.start // self._stride
        committed_to = first + chunk.keep_to
        kept = lp[chunk.keep_from : chunk.keep_to]
        self._lp = kept if self._lp is None else np.concatenate([self._lp, kept])
        emitted_at = chunk.stop / self._rate
        events = [
            self._final(seg, emitted_at)
            for seg in self._endpoint.window(speech[chunk.keep_from : chunk.keep_to], speech[chunk.keep_to :],
                                             committed_to, None if loud is None else loud[chunk.keep_from :])
        ]
        if self.options.partials and self._endpoint.open is not None:
            partial = self._partial(lp[chunk.keep_to :], committed_to, emitted_at)
            if partial is not None:
                events.append(partial)
        return events

    def _speech(
        self, x: NDArray[np.float32], lp: NDArray[np.float32]
    ) -> tuple[NDArray[np.bool_], Optional[NDArray[np.bool_]]]:
        """Per frame of a window: speech (token emitted, or the VAD's word, and loud) and loud (louder
        than the gate; None without one)."""
        opts = self.options
        frames = len(lp)
        if opts.vad is None:
            speech = self._decoding.ctc.emitting(lp)
        else:
            speech = np.array([bool(opts.vad(x[f * self._stride : (f + 1) * self._stride], self._rate))
                               for f in range(frames)], dtype=bool)
        if opts.energy_gate_db is None:
            return speech, None
        loud = frame_energy_db(x, frames, self._stride, self._field) >= opts.energy_gate_db
        return speech & loud, loud

    def _partial(
        self, tentative_lp: NDArray[np.float32], committed_to: int, emitted_at: float
    ) -> Optional[StreamEvent]:
        """The open segment so far: committed frames give stable tokens, the rest tentative ones."""
        seg_start = self._endpoint.open
        assert seg_start is not None and self._lp is not None
        # The segment may open inside the tentative frames (its start past the committed ones).
        view = np.concatenate([self._lp[max(0, seg_start - self._lp0) :],
                               tentative_lp[max(0, seg_start - committed_to) :]])
        text, tokens = self._decoding.tokens(view, first_frame=seg_start)
        # Ended before the last committed frame: later windows cannot touch it.
        last_committed = (committed_to - 1) * self._grid.step
        stable = [tok for tok in tokens if tok.end <= last_committed]
        key = (tuple((t.id, t.start) for t in tokens), len(stable))
        if key == self._last_partial:
            return None
        self._last_partial = key
        return StreamEvent(
            kind="partial", text=text, tokens=tokens, stable=stable, tentative=tokens[len(stable):],
            start=seg_start * self._stride / self._rate, end=(seg_start + len(view)) * self._grid.step,
            emitted_at=emitted_at, confidence=path_confidence(view), start_sample=seg_start * self._stride,
        )

    def _final(self, span: tuple[int, int], emitted_at: float) -> StreamEvent:
        """``predict`` on the closed segment's samples, its token times moved to stream time."""
        start_frame, end_frame = span
        start = start_frame * self._stride
        # Samples for exactly end_frame - start_frame output frames; at the end, all that is left.
        if self._closed and end_frame >= self._grid.frames_for(self._n):
            stop = self._n
        else:
            stop = min(self._n, self._grid.samples_for(end_frame))
        self._last_partial = None
        samples = self._samples(start, stop)
        offset = start / self._rate
        pred = self._decoding.prediction(self.engine.logits(samples), samples, self._decider) \
            if len(samples) >= self._field else None
        if pred is None:
            return StreamEvent("final", "", [], [], [], offset, stop / self._rate, emitted_at, 0.0,
                               label_reason="too_short" if self._decider.labels else None,
                               start_sample=start, end_sample=stop)
        tokens = [t.shifted(offset) for t in pred.tokens]
        return StreamEvent(
            kind="final", text=pred.text, tokens=tokens, stable=list(tokens), tentative=[], start=offset,
            end=stop / self._rate, emitted_at=emitted_at, confidence=pred.confidence, label=pred.label,
            label_probs=pred.label_probs, label_score=pred.label_score, label_reason=pred.label_reason,
            start_sample=start, end_sample=stop,
        )

    def _trim(self) -> None:
        """Drop samples and frames no window, segment or pre-speech margin can need again."""
        keep_frame = self._endpoint.earliest_needed()
        keep = min(self._cursor.next_start, keep_frame * self._stride)
        if keep > self._buf0:
            self._samples(keep, keep)  # join pending blocks first
            self._buf = self._buf[keep - self._buf0 :].copy()
            self._buf0 = keep
        if self._lp is not None and keep_frame > self._lp0:
            self._lp = self._lp[keep_frame - self._lp0 :].copy()
            self._lp0 = keep_frame
