"""Live audio: a Stream turns blocks of samples into partial and final events; finals equal ``predict``.

How it works (everything decided on the model's frame grid, so nothing depends on how the caller
cuts blocks):

- A cheap speech detector (:mod:`phonedge.vad`: Silero VAD's ONNX file when installed, else an
  energy gate) sees every sample and marks each frame speech or not. Silence never reaches the model.
- Endpointing (:mod:`phonedge.endpoint`) opens a segment at a speech frame, ``pre_speech_s`` before
  it, and closes it once ``endpoint_silence_s`` without speech follows; the segment ends
  ``post_speech_s`` after its last speech frame. The fixed margins keep quiet onsets and endings.
- While a segment is open and speech comes, windows give partials: each commits the frames since
  the last window (``hop_s`` or more, with ``left_s`` of context before them and ``right_s`` of
  tentative frames after); committed frames are never recomputed, silence within a segment costs nothing.
- Each closed segment's final is ``Decoding.prediction`` on exactly the segment's samples (=
  ``recognizer.predict`` on them), token times shifted by the segment's start. It is computed as
  soon as the segment's last sample has arrived (``post_speech_s`` after the speech) and held
  until the endpoint confirms it; more speech in between discards it. Streaming changes when an
  answer comes, not what it is.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np
from numpy.typing import NDArray

from .alignment import align_decided
from .audio import RESAMPLE_QUALITY, as_mono_float32, check_sample_rate
from .decide import Classify, check_classify
from .decoding import LogitsEngine, path_confidence
from .endpoint import Endpointer, EndpointRules
from .errors import PhonedgeError, StreamClosedError, StreamRateError
from .manifest import ClassLabel
from .result import Alignment, Token, label_fields
from .scoring import log_softmax
from .speech import SPEECH_GATE_DB
from .vad import Vad, make_detector

DETECTORS = ("auto", "silero", "energy")


@dataclass(frozen=True)
class StreamOptions:
    """Settings of a live stream, in seconds unless said (defaults chosen by benchmarks/live_audio/live_vs_vad.py).

    Attributes:
        left_s, hop_s, right_s: the partials' windows: left context, the frames each window
            commits (at least ``hop_s``: a window waits while no speech comes, then commits all
            frames since the last one), right context (tentative). Only while a segment is open;
            cost per second of speech is about (left+hop+right)/hop model-seconds.
        first_partial_s: the first window of a segment comes once this much audio after its first
            speech frame has been decided (and its right context); None: ``hop_s`` after the
            segment's start, like the others.
        endpoint_silence_s: a run of non-speech frames this long after speech ends the segment.
        pre_speech_s: audio kept before the first speech frame of a segment.
        post_speech_s: audio kept after the last speech frame (at most ``endpoint_silence_s``); the
            final is computed once it has arrived.
        max_segment_s: a segment longer than this is cut there (bounds a final's cost and memory).
        detector: "auto" (Silero VAD when its model file is installed or ``vad_model`` is given,
            else "energy"), "silero" or "energy".
        vad_model: path of a Silero VAD ONNX file (default: the installed ``silero-vad`` package's).
        energy_gate_db: frames quieter than this RMS level (dBFS, over the frame's receptive field)
            are never speech, whatever the detector; the energy detector's gate. None: no gate.
        vad: optional ``vad(frame, sample_rate) -> bool`` called on every frame's stride (320
            samples at 16 kHz); when given it is the detector.
        partials: emit partial events (finals only when False: the model runs only for finals).
        labels: classes for finals' decisions (default: the bundle's); classify: "ctc"/"nearest".
        align: finals with a label carry the decided class's alignment (``StreamEvent.alignment``,
            in stream time), as ``predict(..., align=True)`` gives it for the segment's samples.
    """

    left_s: float = 0.1
    hop_s: float = 0.5
    right_s: float = 0.0
    first_partial_s: Optional[float] = 0.15
    endpoint_silence_s: float = 0.25
    pre_speech_s: float = 0.15
    post_speech_s: float = 0.1
    max_segment_s: float = 15.0
    detector: str = "auto"
    vad_model: Optional[Union[str, Path]] = None
    energy_gate_db: Optional[float] = SPEECH_GATE_DB
    vad: Optional[Vad] = field(default=None, compare=False)
    partials: bool = True
    labels: Optional[tuple[ClassLabel, ...]] = None
    classify: Classify = "ctc"
    align: bool = False

    def __post_init__(self) -> None:
        """Refuse settings that cannot work, with the reason."""
        for name in ("hop_s", "endpoint_silence_s", "max_segment_s"):
            if not getattr(self, name) > 0:
                raise PhonedgeError(f"StreamOptions.{name} must be > 0, got {getattr(self, name)}")
        if self.first_partial_s is not None and not self.first_partial_s > 0:
            raise PhonedgeError(f"StreamOptions.first_partial_s must be > 0 or None, got {self.first_partial_s}")
        for name in ("left_s", "right_s", "pre_speech_s", "post_speech_s"):
            if not getattr(self, name) >= 0:
                raise PhonedgeError(f"StreamOptions.{name} must be >= 0, got {getattr(self, name)}")
        if self.post_speech_s > self.endpoint_silence_s:
            raise PhonedgeError(
                f"StreamOptions.post_speech_s ({self.post_speech_s}) must not exceed endpoint_silence_s "
                f"({self.endpoint_silence_s}): the kept tail is part of the silence that ends a segment"
            )
        if self.detector not in DETECTORS:
            raise PhonedgeError(f"StreamOptions.detector must be one of {DETECTORS}, got {self.detector!r}")
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
    alignment: Optional[Alignment] = None

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
        if self.alignment is not None:
            out["alignment"] = self.alignment.to_dict()
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
        step = grid.step
        self._rules = EndpointRules(
            silence=max(1, round(options.endpoint_silence_s / step)),
            pre=round(options.pre_speech_s / step),
            post=round(options.post_speech_s / step),
            max_frames=max(1, round(options.max_segment_s / step)),
        )
        self._hop = max(1, round(options.hop_s / step))
        self._left, self._right = round(options.left_s / step), round(options.right_s / step)
        self._first = None if options.first_partial_s is None else max(1, round(options.first_partial_s / step))
        make_detector(options.detector, grid, options.energy_gate_db, options.vad, options.vad_model)  # fail early
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

    @property
    def detector(self) -> str:
        """The speech detector in use: "silero", "energy" or "callable"."""
        return type(self._detector).__name__.replace("Detector", "").lower()

    def reset(self) -> None:
        """Forget everything: a new stream, time 0, any block rate."""
        opts = self.options
        self._detector = make_detector(opts.detector, self._grid, opts.energy_gate_db, opts.vad, opts.vad_model)
        self._endpoint = Endpointer(self._rules)
        self._in_rate: Optional[int] = None
        self._resampler: Any = None
        self._buf = np.zeros(0, dtype=np.float32)
        self._pending: list[NDArray[np.float32]] = []  # blocks after _buf, not yet joined
        self._buf0 = 0  # stream sample index of _buf[0]
        self._n = 0
        self._closed = False
        self._segment_reset()

    def _segment_reset(self) -> None:
        self._lp: Optional[NDArray[np.float32]] = None  # committed log-probs of the open segment from its start
        self._onset = 0  # the open segment's first speech frame
        self._held: Optional[StreamEvent] = None  # the open segment's final, computed before the endpoint
        self._last_partial: Optional[tuple[Any, ...]] = None

    def accept(self, samples: NDArray[Any], sample_rate: Optional[int] = None) -> list[StreamEvent]:
        """Feed one block of samples (frames[, channels], any size and PCM/float dtype); return new events."""
        if self._closed:
            raise StreamClosedError("this stream is finished; call reset() to start a new one")
        self._set_rate(sample_rate)
        x = as_mono_float32(samples, "stream block")
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        events = self._append(x)
        self._trim()
        return events

    def finish(self) -> list[StreamEvent]:
        """End the stream: decide the rest, close the open segment (its final), return the last events."""
        if self._closed:
            raise StreamClosedError("this stream is already finished; call reset() to start a new one")
        events: list[StreamEvent] = []
        if self._resampler is not None:
            events += self._append(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        self._closed = True
        total = self._grid.frames_for(self._n)
        events += self._frames(self._detector.flush(total))
        closed = self._endpoint.finish(total)
        if closed is not None:
            events.append(self._final(closed, self._n / self._rate))
            self._segment_reset()
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

    def _append(self, x: NDArray[np.float32]) -> list[StreamEvent]:
        # Blocks are joined only when the model needs them: tiny blocks cost no copying of the buffer.
        if not len(x):
            return []
        self._pending.append(x)
        self._n += len(x)
        return self._frames(self._detector.push(x))

    def _samples(self, start: int, stop: int) -> NDArray[np.float32]:
        if self._pending:
            self._buf = np.concatenate([self._buf, *self._pending])
            self._pending = []
        return self._buf[start - self._buf0 : stop - self._buf0]

    def _frames(self, speech: NDArray[np.bool_]) -> list[StreamEvent]:
        """Run the endpoint over newly decided frames; partials and finals as the frames allow."""
        events: list[StreamEvent] = []
        ep = self._endpoint
        for said in speech:
            f = ep.pos
            at = min(self._detector.needed(f), self._n) / self._rate  # when this frame's decision can be known
            was_open = ep.open is not None
            closed = ep.push(bool(said))
            if closed is not None:
                events.append(self._final(closed, at))
                self._segment_reset()
                continue
            if ep.open is None:
                continue
            if not was_open:
                self._segment_reset()
                self._onset = f
            if said:
                self._held = None  # more speech: a final computed early no longer fits
            elif self._held is None and ep.end_if_closed == f + 1:
                self._held = self._final((ep.open, f + 1), at)
            if self.options.partials and self._held is None:
                events += self._due_partials(f + 1, at)
        return events

    def _due_partials(self, decided_to: int, at: float) -> list[StreamEvent]:
        """A window, when speech came since the last committed frame and ``hop`` frames (and the right
        context) have been decided past it; it commits all frames since then and emits a partial."""
        seg = self._endpoint.open
        assert seg is not None
        covered = seg + (0 if self._lp is None else len(self._lp))
        commit_to = decided_to - self._right
        if self._endpoint.last < covered:
            return []
        if self._lp is None and self._first is not None:
            if commit_to < self._onset + self._first:
                return []
        elif commit_to - covered < self._hop:
            return []
        first = max(seg, covered - self._left)
        x = self._samples(first * self._stride, first * self._stride + self._grid.samples_for(decided_to - first))
        lp = log_softmax(self.engine.window_logits(x))
        kept = lp[covered - first : commit_to - first]
        self._lp = kept if self._lp is None else np.concatenate([self._lp, kept])
        partial = self._partial(seg, lp[commit_to - first :], commit_to, at)
        return [] if partial is None else [partial]

    def _partial(self, seg: int, tentative_lp: NDArray[np.float32], committed_to: int,
                 emitted_at: float) -> Optional[StreamEvent]:
        """The open segment so far: committed frames give stable tokens, the rest tentative ones."""
        assert self._lp is not None
        view = np.concatenate([self._lp, tentative_lp])
        text, tokens = self._decoding.tokens(view, first_frame=seg)
        # Ended before the last committed frame: later windows cannot touch it.
        last_committed = (committed_to - 1) * self._grid.step
        stable = [tok for tok in tokens if tok.end <= last_committed]
        key = (tuple((t.id, t.start) for t in tokens), len(stable))
        if key == self._last_partial:
            return None
        self._last_partial = key
        return StreamEvent(
            kind="partial", text=text, tokens=tokens, stable=stable, tentative=tokens[len(stable):],
            start=seg * self._stride / self._rate, end=(seg + len(view)) * self._grid.step,
            emitted_at=emitted_at, confidence=path_confidence(view), start_sample=seg * self._stride,
        )

    def _final(self, span: tuple[int, int], emitted_at: float) -> StreamEvent:
        """``predict`` on the closed segment's samples, its token times moved to stream time."""
        start_frame, end_frame = span
        start = start_frame * self._stride
        # Samples for exactly end_frame - start_frame output frames; at the end, all that is left.
        if self._closed and end_frame >= self._grid.frames_for(self._n):
            stop = self._n
        else:
            stop = min(self._n, start + self._grid.samples_for(end_frame - start_frame))
        held, self._held = self._held, None
        if held is not None and (held.start_sample, held.end_sample) == (start, stop):
            return dataclasses.replace(held, emitted_at=max(held.emitted_at, emitted_at))
        samples = self._samples(start, stop)
        offset = start / self._rate
        logits = self.engine.logits(samples) if len(samples) >= self._field else None
        pred = None if logits is None else self._decoding.prediction(logits, samples, self._decider)
        if pred is None:
            return StreamEvent("final", "", [], [], [], offset, stop / self._rate, emitted_at, 0.0,
                               label_reason="too_short" if self._decider.labels else None,
                               start_sample=start, end_sample=stop)
        tokens = [t.shifted(offset) for t in pred.tokens]
        alignment = None
        if self.options.align and logits is not None:
            found = align_decided(self._decoding, logits, len(samples), pred.label, self._decider.labels)
            alignment = None if found is None else found.shifted(offset, start_frame)
        return StreamEvent(
            kind="final", text=pred.text, tokens=tokens, stable=list(tokens), tentative=[], start=offset,
            end=stop / self._rate, emitted_at=emitted_at, confidence=pred.confidence, label=pred.label,
            label_probs=pred.label_probs, label_score=pred.label_score, label_reason=pred.label_reason,
            start_sample=start, end_sample=stop, alignment=alignment,
        )

    def _trim(self) -> None:
        """Drop samples no segment, window or pre-speech margin can need again."""
        keep = self._endpoint.earliest_needed() * self._stride
        if keep > self._buf0:
            self._samples(keep, keep)  # join pending blocks first
            self._buf = self._buf[keep - self._buf0 :].copy()
            self._buf0 = keep
