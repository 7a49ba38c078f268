"""The recogniser: a bundle's ONNX graph plus audio preparation, CTC decoding and class decisions."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from numpy.typing import NDArray

from . import longform
from .alignment import Alignment, align, align_decided
from .audio import PathLike, prepare_audio
from .batch_policy import BatchPolicy, batch_groups, batch_policy
from .chunking import ChunkPlan
from .ctc import CTCDecoder
from .decide import CLOSED_SET, DEFAULT_REJECT_THRESHOLD, Classify, ClassDecider, OpenSet
from .decoding import Decoding
from .deprecation import renamed, warn_renamed
from .errors import BundleNotFoundError, InvalidAudioError, ModelBundleError, PhonedgeError
from .features import normalize, stack_batch
from .manifest import ClassLabel, Manifest, read_manifest
from .result import Prediction
from .session import SessionConfig, create_session, graph_runner
from .stream import Stream, StreamOptions

AudioInput = Union[PathLike, NDArray[np.generic]]


class Recognizer:
    """Runs one phonedge bundle; safe to share between threads (it holds no per-call state)."""

    def __init__(
        self, bundle: Path, manifest: Manifest, session: Any, chunking: ChunkPlan, open_set: Optional[OpenSet] = None
    ) -> None:
        """Wrap an opened session; use :func:`phonedge.load` rather than this."""
        self.bundle = bundle
        self.manifest = manifest
        self.chunking = chunking
        self._session = session
        self._graph_run = graph_runner(session, manifest.graph.output)  # IO binding on CUDA (#14)
        self._inputs = [i.name for i in session.get_inputs()]
        missing = set(manifest.graph.inputs) - set(self._inputs)
        if missing:
            raise ModelBundleError(
                f"{bundle}: the manifest names graph inputs {sorted(missing)} that the ONNX file lacks "
                f"(it has {self._inputs}); the bundle is inconsistent, export it again"
            )
        num_classes = session.get_outputs()[0].shape[-1]
        if not isinstance(num_classes, int):
            num_classes = len(manifest.tokenizer.vocab)
        self._decoding = Decoding(manifest, num_classes, open_set or open_set_rule(manifest))

    @property
    def sample_rate(self) -> int:
        """The sample rate the model expects; other rates are resampled to it."""
        return self.manifest.audio.sample_rate

    @property
    def labels(self) -> list[ClassLabel]:
        """The class labels stored in the bundle (empty when exported without ``--labels``)."""
        return list(self.manifest.labels)

    @property
    def decoding(self) -> Decoding:
        """The bundle's decoding layer: frame grid, greedy CTC tokens and class decisions."""
        return self._decoding

    @property
    def input_names(self) -> list[str]:
        """The graph's input names (``attention_mask`` among them when it takes one)."""
        return list(self._inputs)

    # -- inference ---------------------------------------------------------------------------

    def _run(self, batch: NDArray[np.float32], mask: Optional[NDArray[np.int64]]) -> NDArray[np.float32]:
        feeds: dict[str, NDArray[Any]] = {"input_values": batch}
        if "attention_mask" in self._inputs:
            feeds["attention_mask"] = mask if mask is not None else np.ones(batch.shape, dtype=np.int64)
        return self._graph_run(feeds)

    def _prepare(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        # A graph that normalises its input (--target cuda bundles) takes the raw waveform.
        return normalize(x, self.manifest.audio.runtime_normalizes)

    def _chunk_limit(self) -> int:
        audio = self.manifest.audio
        return self.chunking.chunk_samples(self.sample_rate, audio.frame_stride, audio.receptive_field)

    def window_logits(self, window: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits (frames, classes) of one window of mono float32 samples, normalised on its own."""
        return self._run(self._prepare(window)[None, :], None)[0]

    def logits(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits (frames, classes) of mono float32 samples at the model rate, in windows when long.

        Each window is normalised on its own, as the transformers ASR pipeline does and as a live
        stream must: on long recordings that is what keeps the error rate low (benchmarks/README.md).
        """
        if len(samples) <= self._chunk_limit():
            return self.window_logits(samples)
        audio = self.manifest.audio
        pieces = []
        for chunk in self.chunking.windows(len(samples), self.sample_rate, audio.frame_stride, audio.receptive_field):
            pieces.append(self.window_logits(samples[chunk.start : chunk.stop])[chunk.keep_from : chunk.keep_to])
        return np.concatenate(pieces, axis=0)

    @property
    def batch_policy(self) -> BatchPolicy:
        """How this bundle lets utterances share a batch (one by one for dynamic int8 graphs)."""
        return batch_policy(self.manifest)

    def _batched_logits(self, items: list[NDArray[np.float32]], batch_size: int) -> list[NDArray[np.float32]]:
        """Per-item logits, batching only in ways that leave every item's result unchanged."""
        out: list[Optional[NDArray[np.float32]]] = [None] * len(items)
        limit = self._chunk_limit()
        short = [i for i, x in enumerate(items) if len(x) <= limit]
        for i in set(range(len(items))) - set(short):
            out[i] = self.logits(items[i])
        policy = self.batch_policy
        feeds_mask = "attention_mask" in self._inputs  # built only for a graph that takes one
        for group in batch_groups(policy, [len(items[i]) for i in short], batch_size):
            idx = [short[g] for g in group]
            prepared = [self._prepare(items[i]) for i in idx]
            batch, mask = stack_batch(prepared, self.manifest.audio.padding_value, feeds_mask)
            logits = self._run(batch, mask)
            for row, i in enumerate(idx):
                out[i] = logits[row, : self._decoding.grid.frames_for(len(items[i]))]
        return [o for o in out if o is not None]

    # -- old names ---------------------------------------------------------------------------

    @property
    def decoder(self) -> CTCDecoder:
        """Deprecated: ``decoding.ctc``; removed in 0.3."""
        warn_renamed("Recognizer.decoder", "Recognizer.decoding.ctc")
        return self._decoding.ctc

    def frames_for(self, n_samples: int) -> int:
        """Deprecated: ``decoding.grid.frames_for``; removed in 0.3."""
        warn_renamed("Recognizer.frames_for", "Recognizer.decoding.grid.frames_for")
        return self._decoding.grid.frames_for(n_samples)

    def decider(self, labels: Optional[Sequence[ClassLabel]] = None, classify: Classify = "ctc") -> ClassDecider:
        """Deprecated: ``decoding.decider``; removed in 0.3."""
        warn_renamed("Recognizer.decider", "Recognizer.decoding.decider")
        return self._decoding.decider(labels, classify)

    def result(
        self, logits: NDArray[np.float32], n_samples: int, decider: ClassDecider, return_logits: bool = False
    ) -> Prediction:
        """Deprecated: ``decoding.prediction``; removed in 0.3."""
        warn_renamed("Recognizer.result", "Recognizer.decoding.prediction")
        return self._decoding.prediction(logits, n_samples, decider, return_logits)

    # -- results -----------------------------------------------------------------------------

    def prepare_audio(self, audio: AudioInput, sample_rate: Optional[int] = None) -> NDArray[np.float32]:
        """Decode/validate one input into mono float32 samples at the model rate (what :meth:`logits` takes)."""
        return prepare_audio(audio, sample_rate, self.sample_rate, self.manifest.audio.receptive_field)

    # "read_audio" also named phonedge.audio's file decoder, and "load" read like phonedge.load.
    read_audio = renamed(prepare_audio, "Recognizer.read_audio", "Recognizer.prepare_audio")
    load = renamed(prepare_audio, "Recognizer.load", "Recognizer.prepare_audio")

    def stream(self, options: Optional[StreamOptions] = None, **overrides: Any) -> Stream:
        """A live-audio :class:`phonedge.Stream` on this recogniser (one per audio source)."""
        base = options or StreamOptions()
        if overrides:
            base = base.replace(**overrides)
        return Stream(self, base)

    def predict(
        self,
        audio: AudioInput,
        sample_rate: Optional[int] = None,
        *,
        labels: Optional[Sequence[ClassLabel]] = None,
        classify: Classify = "ctc",
        return_logits: bool = False,
        align: bool = False,
    ) -> Prediction:
        """Transcribe one utterance.

        Args:
            audio: a path to an audio file, or a numpy array of samples (frames[, channels]).
            sample_rate: the array's sample rate in Hz (required for arrays, refused for paths).
            labels: classes to decide between; defaults to the bundle's labels.
            classify: ``"ctc"`` (exact CTC likelihood of each class transcript, softmaxed over
                classes) or ``"nearest"`` (nearest class transcript by edit distance over units).
            return_logits: keep the raw logits in the result.
            align: also align the decided class's transcript (``Prediction.alignment``: each unit's
                start, end and score, as :meth:`align` gives them); nothing to align without a label.

        Returns:
            A :class:`Prediction`.

        Raises:
            AudioError: the audio is missing, unreadable, too short or malformed.
        """
        decider = self._decoding.decider(labels, classify)
        keep = return_logits or align
        if isinstance(audio, (str, os.PathLike)) and longform.reads_in_blocks(self, audio, sample_rate):
            prediction = longform.predict_file(self, audio, decider, keep)  # held a window at a time
        else:
            samples = self.prepare_audio(audio, sample_rate)
            prediction = self._decoding.prediction(self.logits(samples), samples, decider, keep)
        return self._aligned(prediction, decider, return_logits) if align else prediction

    def _aligned(self, prediction: Prediction, decider: ClassDecider, return_logits: bool) -> Prediction:
        """PREDICTION (which holds its logits) with the decided class's alignment, logits kept only if asked."""
        assert prediction.logits is not None
        n_samples = round(prediction.duration * self.sample_rate)
        alignment = align_decided(self._decoding, prediction.logits, n_samples, prediction.label, decider.labels)
        return replace(prediction, alignment=alignment, logits=prediction.logits if return_logits else None)

    def predict_each(
        self,
        inputs: Sequence[AudioInput],
        sample_rate: Optional[int] = None,
        *,
        batch_size: int = 1,
        labels: Optional[Sequence[ClassLabel]] = None,
        classify: Classify = "ctc",
        progress: Optional[Callable[[int, int], None]] = None,
        align: bool = False,
    ) -> Iterator[Outcome]:
        """Transcribe many inputs, lazily and in order, one :class:`Outcome` each; a bad input never stops the rest.

        Each prediction is what :meth:`predict` gives for that input: inputs share ONNX calls only
        where :attr:`batch_policy` leaves results unchanged, and long files are read in blocks.
        An input that fails (any exception) gets an Outcome with the error instead of a
        prediction; ``progress(done, total)`` is called after each input. ``align`` as in :meth:`predict`.

        Raises:
            PhonedgeError: ``classify`` or ``batch_size`` is impossible (before any input is read).
        """
        decider = self._decoding.decider(labels, classify)
        if batch_size < 1:
            raise PhonedgeError(f"batch_size must be >= 1, got {batch_size}")
        done = 0
        for start in range(0, len(inputs), batch_size):
            group = list(inputs[start : start + batch_size])
            outcomes: list[Optional[Outcome]] = [None] * len(group)
            arrays: list[tuple[int, NDArray[np.float32]]] = []
            for i, item in enumerate(group):
                try:
                    if isinstance(item, (str, os.PathLike)) and longform.reads_in_blocks(self, item, sample_rate):
                        outcomes[i] = Outcome(item, longform.predict_file(self, item, decider, align))
                    else:
                        arrays.append((i, self.prepare_audio(item, sample_rate)))
                except Exception as exc:  # one odd input (a codec or ONNX Runtime failure too) never stops the rest
                    outcomes[i] = Outcome(item, error=exc)
            for i, result in self._predict_arrays(arrays, batch_size, decider, align):
                outcomes[i] = Outcome(group[i], result) if isinstance(result, Prediction) else \
                    Outcome(group[i], error=result)
            for outcome in outcomes:
                assert outcome is not None
                if align and outcome.prediction is not None:
                    try:
                        outcome = Outcome(outcome.input, self._aligned(outcome.prediction, decider, False))
                    except Exception as exc:  # as for predicting: one input's failure never stops the rest
                        outcome = Outcome(outcome.input, error=exc)
                done += 1
                if progress is not None:
                    progress(done, len(inputs))
                yield outcome

    def _predict_arrays(
        self, arrays: list[tuple[int, NDArray[np.float32]]], batch_size: int, decider: ClassDecider,
        return_logits: bool = False,
    ) -> list[tuple[int, Union[Prediction, Exception]]]:
        """Predictions of read inputs, batched; if a batch fails, each input alone, so only the bad one fails."""
        if not arrays:
            return []
        try:
            logits = self._batched_logits([x for _, x in arrays], batch_size)
            return [(i, self._decoding.prediction(lg, x, decider, return_logits)) for (i, x), lg in zip(arrays, logits)]
        except Exception as exc:
            if len(arrays) == 1:
                return [(arrays[0][0], exc)]
        results: list[tuple[int, Union[Prediction, Exception]]] = []
        for i, x in arrays:
            try:
                results.append((i, self._decoding.prediction(self.logits(x), x, decider, return_logits)))
            except Exception as exc:
                results.append((i, exc))
        return results

    def align(
        self,
        audio: AudioInput,
        sample_rate: Optional[int] = None,
        *,
        transcript: Optional[str] = None,
        label: Union[str, int, None] = None,
        star: bool = False,
        scores: bool = True,
    ) -> Alignment:
        """Where each unit of a transcript (or of a class label's transcript) starts and ends, and how well it was said.

        See :func:`phonedge.alignment.align` for the arguments and errors.
        """
        return align(self, audio, sample_rate, transcript=transcript, label=label, star=star, scores=scores)

    def predict_batch(
        self,
        audios: Sequence[AudioInput],
        sample_rate: Optional[int] = None,
        *,
        batch_size: int = 8,
        labels: Optional[Sequence[ClassLabel]] = None,
        classify: Classify = "ctc",
        return_logits: bool = False,
    ) -> list[Prediction]:
        """Transcribe many utterances; each result equals what :meth:`predict` gives for that item.

        ``batch_size`` caps the items per ONNX call where :attr:`batch_policy` lets items share
        one; dynamic int8 bundles run one item per call whatever it is.
        """
        decider = self._decoding.decider(labels, classify)
        if isinstance(audios, (str, os.PathLike, np.ndarray)):
            raise InvalidAudioError("predict_batch takes a list of inputs; use predict for one")
        if batch_size < 1:
            raise PhonedgeError(f"batch_size must be >= 1, got {batch_size}")
        items = [self.prepare_audio(a, sample_rate) for a in audios]
        all_logits = self._batched_logits(items, batch_size)
        return [self._decoding.prediction(lg, x, decider, return_logits) for lg, x in zip(all_logits, items)]


@dataclass(frozen=True)
class Outcome:
    """What became of one input of :meth:`Recognizer.predict_each`: its prediction, or the error that stopped it."""

    input: AudioInput
    prediction: Optional[Prediction] = None
    error: Optional[Exception] = None


def load(
    bundle: Union[str, "os.PathLike[str]"],
    *,
    provider: str = "cpu",
    threads: int = 0,
    graph_optimization: str = "all",
    chunking: Optional[ChunkPlan] = None,
    session_options: Optional[Mapping[str, Any]] = None,
    provider_options: Optional[Mapping[str, Any]] = None,
    reject_threshold: Optional[float] = None,
    open_set: bool = True,
) -> Recognizer:
    """Open a bundle folder written by ``phonedge export``.

    Args:
        bundle: the bundle folder (holding ``phonedge.json`` and the ONNX file).
        provider: ``"cpu"`` (default), ``"cuda"`` or ``"tensorrt"`` (these need onnxruntime-gpu).
        threads: intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
        graph_optimization: ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"``.
        chunking: long-audio windows, each normalised on its own; default
            ``ChunkPlan.for_provider(provider)`` (10 s windows with 2 s strides on the CPU, one pass up
            to 120 s on a GPU provider).
        session_options: ``onnxruntime.SessionOptions`` attributes to set, passed straight through
            (e.g. ``{"enable_profiling": True}``); they override the settings above.
        provider_options: options of the chosen provider, passed straight through to ONNX Runtime
            (e.g. ``{"device_id": 1}`` for CUDA).
        reject_threshold: the open-set threshold on ``label_score`` (default: the bundle's calibrated
            one, else ``DEFAULT_REJECT_THRESHOLD``); lower accepts more.
        open_set: False gives every decodable sound a class, as phonedge 0.2 did (no "none").

    Raises:
        BundleNotFoundError: the folder, its manifest or its ONNX file is missing.
        ModelBundleError: the manifest is corrupt or of another version, or the ONNX file does not load.
        ProviderError: the provider is not available.
    """
    path = Path(bundle)
    manifest = read_manifest(path)
    model_path = path / manifest.graph.file
    if not model_path.is_file():
        raise BundleNotFoundError(
            f"{path}: the ONNX file {manifest.graph.file!r} named in the manifest is missing; export again"
        )
    session = create_session(
        model_path,
        SessionConfig(provider=provider, intra_op_threads=threads, graph_optimization=graph_optimization,
                      session_options=dict(session_options or {}), provider_options=dict(provider_options or {})),
    )
    rule = open_set_rule(manifest, reject_threshold) if open_set else CLOSED_SET
    return Recognizer(path, manifest, session, chunking or ChunkPlan.for_provider(provider), rule)


def open_set_rule(manifest: Manifest, reject_threshold: Optional[float] = None) -> OpenSet:
    """The open-set rule: REJECT_THRESHOLD if given, else the bundle's calibrated threshold, else the default."""
    if reject_threshold is None:
        reject_threshold = manifest.decision.get("reject_threshold", DEFAULT_REJECT_THRESHOLD)
    if isinstance(reject_threshold, bool) or not isinstance(reject_threshold, (int, float)) \
            or reject_threshold != reject_threshold:
        raise PhonedgeError(f"reject_threshold must be a number (nats), got {reject_threshold!r}")
    return OpenSet(float(reject_threshold))
