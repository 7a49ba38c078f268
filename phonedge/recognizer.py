"""The recogniser: a bundle's ONNX graph plus audio preparation, CTC decoding and class decisions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from numpy.typing import NDArray

from .audio import PathLike, load_audio
from .chunking import ChunkPlan
from .ctc import CTCDecoder, transcript_ids, transcript_units
from .errors import BundleNotFoundError, InvalidAudioError, ModelBundleError, PhonedgeError
from .features import normalize, stack_batch
from .manifest import ClassLabel, Manifest, read_manifest
from . import scoring
from .result import Prediction, Token
from .session import SessionConfig, create_session, graph_runner

AudioInput = Union[PathLike, NDArray[np.generic]]
CLASSIFY_METHODS = ("ctc", "nearest")


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

    def logits(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits (frames, classes) of mono float32 samples at the model rate, chunked when long."""
        if len(samples) <= self._chunk_limit():
            return self._run(self._prepare(samples)[None, :], None)[0]
        audio = self.manifest.audio
        # Normalised once over the whole utterance, so every chunk sees what a single pass would
        # (a graph that normalises its input normalises each chunk on its own instead).
        normed = self._prepare(samples)
        pieces = []
        for chunk in self.chunking.windows(len(samples), self.sample_rate, audio.frame_stride, audio.receptive_field):
            out = self._run(normed[None, chunk.start : chunk.stop], None)[0]
            pieces.append(out[chunk.keep_from : chunk.keep_to])
        return np.concatenate(pieces, axis=0)

    def _batched_logits(self, items: list[NDArray[np.float32]], batch_size: int) -> list[NDArray[np.float32]]:
        """Per-item logits, batching only in ways that leave every item's result unchanged."""
        out: list[Optional[NDArray[np.float32]]] = [None] * len(items)
        limit = self._chunk_limit()
        short = [i for i, x in enumerate(items) if len(x) <= limit]
        for i in set(range(len(items))) - set(short):
            out[i] = self.logits(items[i])
        masked = self.manifest.has_attention_mask and self.manifest.audio.feat_extract_norm == "layer"
        feeds_mask = "attention_mask" in self._inputs  # built only for a graph that takes one
        if self.manifest.graph.quantization.get("method") == "dynamic":
            # Dynamic int8 takes one activation scale per tensor, i.e. per batch: any batch-mate
            # would change an item's result, so such graphs run one item per call.
            batch_size, groups = 1, [short]
        elif masked:
            # Padding with a mask leaves a layer-norm model's valid frames unchanged.
            groups = [sorted(short, key=lambda i: len(items[i]))]
        else:
            # Without a mask any padding changes the result: only equal lengths share a batch.
            by_len: dict[int, list[int]] = {}
            for i in short:
                by_len.setdefault(len(items[i]), []).append(i)
            groups = list(by_len.values())
        for group in groups:
            for k in range(0, len(group), batch_size):
                idx = group[k : k + batch_size]
                batch, mask = stack_batch(
                    [self._prepare(items[i]) for i in idx], self.manifest.audio.padding_value, feeds_mask
                )
                logits = self._run(batch, mask)
                for row, i in enumerate(idx):
                    out[i] = logits[row, : self.frames_for(len(items[i]))]
        return [o for o in out if o is not None]

    # -- results -----------------------------------------------------------------------------

    def _targets(self, labels: Sequence[ClassLabel]) -> list[list[int]]:
        tok = self.manifest.tokenizer
        targets = []
        for lab in labels:
            try:
                targets.append(transcript_ids(tok, lab.transcript))
            except PhonedgeError as exc:
                raise PhonedgeError(f"class {lab.label!r}: {exc}") from None
        return targets

    def _result(
        self,
        logits: NDArray[np.float32],
        n_samples: int,
        labels: Sequence[ClassLabel],
        targets: list[list[int]],
        classify: str,
        return_logits: bool,
    ) -> Prediction:
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
        label = probs = None
        if labels:
            if classify == "ctc":
                scores = scoring.class_log_likelihoods(log_probs, targets, self.manifest.tokenizer.blank_id)
                post = scoring.posteriors_from_log_likelihoods(scores)
                probs = {lab.label: float(p) for lab, p in zip(labels, post)}
                # Too few frames for every class transcript: no class fits, say so rather than pick one.
                label = None if np.isneginf(scores).all() else labels[int(np.argmax(post))].label
            else:
                tok = self.manifest.tokenizer
                units = [transcript_units(tok, lab.transcript) for lab in labels]
                best = scoring.nearest_class(transcript_units(tok, text), units)
                label = labels[best].label
        return Prediction(
            text=text,
            tokens=tokens,
            confidence=confidence,
            duration=n_samples / self.sample_rate,
            label=label,
            label_probs=probs,
            logits=logits if return_logits else None,
        )

    def _check_classify(self, classify: str) -> None:
        if classify not in CLASSIFY_METHODS:
            raise PhonedgeError(f"classify must be one of {', '.join(CLASSIFY_METHODS)}, got {classify!r}")

    def load(self, audio: AudioInput, sample_rate: Optional[int] = None) -> NDArray[np.float32]:
        """Decode/validate one input into mono float32 samples at the model rate."""
        return load_audio(audio, sample_rate, self.sample_rate, self.manifest.audio.receptive_field)

    def predict(
        self,
        audio: AudioInput,
        sample_rate: Optional[int] = None,
        *,
        labels: Optional[Sequence[ClassLabel]] = None,
        classify: str = "ctc",
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
        self._check_classify(classify)
        samples = self.load(audio, sample_rate)
        labels = self.labels if labels is None else list(labels)
        targets = self._targets(labels)
        return self._result(self.logits(samples), len(samples), labels, targets, classify, return_logits)

    def predict_batch(
        self,
        audios: Sequence[AudioInput],
        sample_rate: Optional[int] = None,
        *,
        batch_size: int = 8,
        labels: Optional[Sequence[ClassLabel]] = None,
        classify: str = "ctc",
        return_logits: bool = False,
    ) -> list[Prediction]:
        """Transcribe many utterances; each result equals what :meth:`predict` gives for that item."""
        self._check_classify(classify)
        if isinstance(audios, (str, os.PathLike, np.ndarray)):
            raise InvalidAudioError("predict_batch takes a list of inputs; use predict for one")
        if batch_size < 1:
            raise PhonedgeError(f"batch_size must be >= 1, got {batch_size}")
        items = [self.load(a, sample_rate) for a in audios]
        labels = self.labels if labels is None else list(labels)
        targets = self._targets(labels)
        all_logits = self._batched_logits(items, batch_size)
        return [
            self._result(lg, len(x), labels, targets, classify, return_logits) for lg, x in zip(all_logits, items)
        ]


def load(
    bundle: Union[str, "os.PathLike[str]"],
    *,
    provider: str = "cpu",
    threads: int = 0,
    graph_optimization: str = "all",
    chunking: Optional[ChunkPlan] = None,
) -> Recognizer:
    """Open a bundle folder written by ``phonedge export``.

    Args:
        bundle: the bundle folder (holding ``phonedge.json`` and the ONNX file).
        provider: ``"cpu"`` (default), ``"cuda"`` or ``"tensorrt"`` (these need onnxruntime-gpu).
        threads: intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
        graph_optimization: ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"``.
        chunking: long-audio chunking; default 20 s chunks with 4 s strides on each side on the CPU,
            one pass up to 120 s on a GPU provider (ChunkPlan.for_provider).

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
        model_path, SessionConfig(provider=provider, intra_op_threads=threads, graph_optimization=graph_optimization)
    )
    return Recognizer(path, manifest, session, chunking or ChunkPlan.for_provider(provider))
