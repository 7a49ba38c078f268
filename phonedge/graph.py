"""A bundle's ONNX graph(s) as one function: a waveform batch (and its mask) in, logits out.

A bundle holds either one graph, or two: the conv feature encoder (``encoder.onnx``, waveform to
512-channel frames) and the rest of the model (``model.onnx``, frames to logits). A layer-norm
encoder computes each 20 ms frame from its own 400 samples, so it can run over short pieces of the
waveform, cut on the frame grid with the receptive field's overlap, and the joined frames are those
of one pass. The encoder's first layers hold the model's largest activations (32,000 x 512 float32
values per 10 s of audio), so running it piecewise bounds the memory a long input needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from numpy.typing import NDArray

from .errors import BundleNotFoundError, ModelBundleError
from .manifest import Manifest
from .session import SessionConfig, create_session

INPUT_VALUES = "input_values"
ATTENTION_MASK = "attention_mask"
ENCODER_CHUNK_FRAMES = 50  # 1 s of 20 ms frames: the first encoder block then holds ~6 MiB per tensor


class GraphRunner:
    """Runs a bundle's graph(s) on padded waveform batches; holds no per-call state."""

    def __init__(
        self,
        manifest: Manifest,
        session: Any,
        encoder_session: Optional[Any] = None,
        chunk_frames: int = ENCODER_CHUNK_FRAMES,
        where: str = "bundle",
    ) -> None:
        """Wrap opened sessions; use :func:`open_graph` rather than this."""
        if chunk_frames < 1:
            raise ValueError("chunk_frames must be >= 1")
        self.manifest = manifest
        self.chunk_frames = chunk_frames
        self._session = session
        self._encoder = encoder_session
        spec = manifest.graph
        _check_inputs(session, spec.inputs, spec.file, where)
        if encoder_session is not None and spec.encoder is not None:
            _check_inputs(encoder_session, [spec.encoder.input], spec.encoder.file, where)
        self._inputs = [i.name for i in session.get_inputs()]
        self.num_classes = session.get_outputs()[0].shape[-1]

    @property
    def input_names(self) -> list[str]:
        """The waveform-side inputs: ``input_values``, and ``attention_mask`` when the graph takes one."""
        return [INPUT_VALUES] + ([ATTENTION_MASK] if ATTENTION_MASK in self._inputs else [])

    @property
    def split(self) -> bool:
        """Whether the conv feature encoder runs as its own graph, piece by piece."""
        return self._encoder is not None

    def frames_for(self, n_samples: int) -> int:
        """Output frames of the conv feature encoder for N_SAMPLES samples."""
        audio = self.manifest.audio
        return max(0, (n_samples - audio.receptive_field) // audio.frame_stride + 1)

    def features(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """The encoder graph's frames (batch, frames, channels), computed 1 s of frames at a time."""
        assert self._encoder is not None and self.manifest.graph.encoder is not None
        spec, audio = self.manifest.graph.encoder, self.manifest.audio
        total = self.frames_for(batch.shape[1])
        pieces = []
        for first in range(0, total, self.chunk_frames):
            last = min(total, first + self.chunk_frames)
            start = first * audio.frame_stride
            stop = (last - 1) * audio.frame_stride + audio.receptive_field
            out = self._encoder.run([spec.output], {spec.input: batch[:, start:stop]})[0]
            if out.shape[1] != last - first:
                raise ModelBundleError(
                    f"{spec.file} gave {out.shape[1]} frames for {stop - start} samples, the manifest's frame "
                    f"grid ({audio.frame_stride}/{audio.receptive_field}) says {last - first}; export the bundle again"
                )
            pieces.append(out)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)

    def run(self, batch: NDArray[np.float32], mask: Optional[NDArray[np.int64]] = None) -> NDArray[np.float32]:
        """Logits (batch, frames, classes) of a normalised, padded waveform batch."""
        spec = self.manifest.graph
        feeds: dict[str, NDArray[Any]] = {}
        if self._encoder is not None and spec.encoder is not None:
            feeds[spec.encoder.output] = self.features(batch)
        else:
            feeds[INPUT_VALUES] = batch
        if ATTENTION_MASK in self._inputs:
            feeds[ATTENTION_MASK] = mask if mask is not None else np.ones(batch.shape, dtype=np.int64)
        return self._session.run([spec.output], feeds)[0]


def _check_inputs(session: Any, names: list[str], file: str, where: str) -> None:
    have = [i.name for i in session.get_inputs()]
    missing = set(names) - set(have)
    if missing:
        raise ModelBundleError(
            f"{where}: the manifest names graph inputs {sorted(missing)} that {file} lacks "
            f"(it has {have}); the bundle is inconsistent, export it again"
        )


def open_graph(
    folder: Path, manifest: Manifest, config: SessionConfig, chunk_frames: int = ENCODER_CHUNK_FRAMES
) -> GraphRunner:
    """Open the ONNX file(s) a manifest names in FOLDER."""
    files = [manifest.graph.file] + ([manifest.graph.encoder.file] if manifest.graph.encoder else [])
    for name in files:
        if not (folder / name).is_file():
            raise BundleNotFoundError(f"{folder}: the ONNX file {name!r} named in the manifest is missing; export again")
    session = create_session(folder / manifest.graph.file, config)
    encoder = create_session(folder / manifest.graph.encoder.file, config) if manifest.graph.encoder else None
    return GraphRunner(manifest, session, encoder, chunk_frames, where=str(folder))
