"""The recogniser: a bundle's ONNX graph plus audio preparation, CTC decoding and class decisions."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
from numpy.typing import NDArray

from .audio import PathLike, load_audio
from .batching import BatchPolicy, batch_groups, batch_policy
from .chunking import ChunkPlan
from .ctc import CTCDecoder
from .decide import Classify, ClassDecider
from .errors import BundleNotFoundError, InvalidAudioError, ModelBundleError, PhonedgeError
from .features import normalize, stack_batch
from .manifest import ClassLabel, Manifest, read_manifest
from . import scoring
from .result import Prediction, Token
from .session import SessionConfig, create_session, graph_runner

if TYPE_CHECKING:
    from .stream import Stream, StreamOptions

AudioInput = Union[PathLike, NDArray[np.generic]]


class Recognizer:
    """Runs one phonedge bundle; safe to share between threads (it holds no per-call state)."""

    def __init__(self, bundle: Path, manifest: Manifest, session: Any, chunking: ChunkPlan) -> None:
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
        self._decoder = CTCDecoder(manifest.tokenizer, num_classes)

    @property
    def sample_rate(self) -> int:
        """The sample rate the model expects; other rates are resampled to it."""
        return self.manifest.audio.sample_rate

    @property
    def labels(self) -> list[ClassLabel]:
        """The class labels stored in the bundle (empty when exported without ``--labels``)."""
        return list(self.manifest.labels)

    @property
    def decoder(self) -> CTCDecoder:
        """The greedy CTC decoder of this bundle's tokenizer."""
        return self._decoder

    @property
    def input_names(self) -> list[str]:
        """The graph's input names (``attention_mask`` among them when it takes one)."""
        return list(self._inputs)

    def frames_for(self, n_samples: int) -> int:
        """Number of output frames the conv feature encoder gives for ``n_samples`` samples."""
        audio = self.manifest.audio
        return max(0, (n_samples - audio.receptive_field) // audio.frame_stride + 1)

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
                out[i] = logits[row, : self.frames_for(len(items[i]))]
        return [o for o in out if o is not None]

    # -- results -----------------------------------------------------------------------------

    def decider(self, labels: Optional[Sequence[ClassLabel]] = None, classify: Classify = "ctc") -> ClassDecider:
        """The class decision rule for these labels (default: the bundle's) and method."""
        return ClassDecider(self.manifest.tokenizer, self.labels if labels is None else list(labels), classify)

    def result(
        self, logits: NDArray[np.float32], n_samples: int, decider: ClassDecider, return_logits: bool = False
    ) -> Prediction:
        """The Prediction for one utterance's logits: decoded tokens, confidence and class decision."""
        log_probs = scoring.log_softmax(np.asarray(logits, dtype=np.float32))
        seg = self._decoder.segments(log_probs)
        step = self.manifest.audio.frame_stride / self.sample_rate
        tokens = [
            Token(text, int(i), float(s * step), float(e * step), float(np.exp(lp)))
            for text, i, s, e, lp in zip(
                self._decoder.token_text(seg.ids), seg.ids, seg.start_frames, seg.end_frames, seg.mean_log_probs
            )
        ]
        confidence = float(np.exp(log_probs.max(axis=-1).mean())) if len(log_probs) else 0.0
        text = self._decoder.text(seg.ids)
        label, probs = decider.decide(log_probs, text)
        return Prediction(
            text=text,
            tokens=tokens,
            confidence=confidence,
            duration=n_samples / self.sample_rate,
            label=label,
            label_probs=probs,
            logits=logits if return_logits else None,
        )

    def read_audio(self, audio: AudioInput, sample_rate: Optional[int] = None) -> NDArray[np.float32]:
        """Decode/validate one input into mono float32 samples at the model rate."""
        return load_audio(audio, sample_rate, self.sample_rate, self.manifest.audio.receptive_field)

    def load(self, audio: AudioInput, sample_rate: Optional[int] = None) -> NDArray[np.float32]:
        """Deprecated name of :meth:`read_audio` (it read like ``phonedge.load``); removed in 0.3."""
        warnings.warn("Recognizer.load(audio) is renamed Recognizer.read_audio(audio); load goes in 0.3",
                      DeprecationWarning, stacklevel=2)
        return self.read_audio(audio, sample_rate)

    def stream(self, options: Optional[StreamOptions] = None, **overrides: Any) -> Stream:
        """A live-audio :class:`phonedge.Stream` on this recogniser (one per audio source)."""
        from .stream import Stream, StreamOptions

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
    ) -> Prediction:
        """Transcribe one utterance.

        Args:
            audio: a path to an audio file, or a numpy array of samples (frames[, channels]).
            sample_rate: the array's sample rate in Hz (required for arrays, refused for paths).
            labels: classes to decide between; defaults to the bundle's labels.
            classify: ``"ctc"`` (exact CTC likelihood of each class transcript, softmaxed over
                classes) or ``"nearest"`` (nearest class transcript by edit distance over units).
            return_logits: keep the raw logits in the result.

        Returns:
            A :class:`Prediction`.

        Raises:
            AudioError: the audio is missing, unreadable, too short or malformed.
        """
        decider = self.decider(labels, classify)
        samples = self.read_audio(audio, sample_rate)
        return self.result(self.logits(samples), len(samples), decider, return_logits)

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
        decider = self.decider(labels, classify)
        if isinstance(audios, (str, os.PathLike, np.ndarray)):
            raise InvalidAudioError("predict_batch takes a list of inputs; use predict for one")
        if batch_size < 1:
            raise PhonedgeError(f"batch_size must be >= 1, got {batch_size}")
        items = [self.read_audio(a, sample_rate) for a in audios]
        all_logits = self._batched_logits(items, batch_size)
        return [self.result(lg, len(x), decider, return_logits) for lg, x in zip(all_logits, items)]


def load(
    bundle: Union[str, "os.PathLike[str]"],
    *,
    provider: str = "cpu",
    threads: int = 0,
    graph_optimization: str = "all",
    chunking: Optional[ChunkPlan] = None,
    session_options: Optional[Mapping[str, Any]] = None,
    provider_options: Optional[Mapping[str, Any]] = None,
) -> Recognizer:
    """Open a bundle folder written by ``phonedge export``.

    Args:
        bundle: the bundle folder (holding ``phonedge.json`` and the ONNX file).
        provider: ``"cpu"`` (default), ``"cuda"`` or ``"tensorrt"`` (these need onnxruntime-gpu).
        threads: intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
        graph_optimization: ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"``.
        chunking: long-audio windows, each normalised on its own; default
            ``ChunkPlan.for_provider(provider)`` (the CPU default, or one pass up to 120 s on a GPU provider).
        session_options: ``onnxruntime.SessionOptions`` attributes to set, passed straight through
            (e.g. ``{"enable_profiling": True}``); they override the settings above.
        provider_options: options of the chosen provider, passed straight through to ONNX Runtime
            (e.g. ``{"device_id": 1}`` for CUDA).

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
    return Recognizer(path, manifest, session, chunking or ChunkPlan.for_provider(provider))
