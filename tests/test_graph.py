"""Split bundles: the feature encoder as its own graph, run over 1 s pieces (phonedge.graph)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import phonedge
from phonedge.errors import BundleNotFoundError, ModelBundleError
from phonedge.graph import GraphRunner, open_graph
from phonedge.manifest import MANIFEST_NAME, read_manifest
from phonedge.session import SessionConfig


def _signal(seconds: float, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(int(seconds * 16_000)).astype(np.float32)
    return ((x - x.mean()) / x.std())[None]


def _runner(bundle: Path, chunk_frames: int) -> GraphRunner:
    return open_graph(bundle, read_manifest(bundle), SessionConfig(intra_op_threads=1), chunk_frames=chunk_frames)


def test_layer_norm_bundles_split_off_the_encoder(layer_bundle: Path, group_bundle: Path) -> None:
    assert sorted(p.name for p in layer_bundle.glob("*.onnx")) == ["encoder.onnx", "model.onnx"]
    spec = read_manifest(layer_bundle).graph
    assert spec.encoder is not None and spec.encoder.size_bytes == (layer_bundle / "encoder.onnx").stat().st_size
    assert spec.total_bytes == spec.size_bytes + spec.encoder.size_bytes
    assert read_manifest(layer_bundle).format_version == 2
    assert read_manifest(group_bundle).graph.encoder is None
    assert [p.name for p in group_bundle.glob("*.onnx")] == ["model.onnx"]


@pytest.mark.parametrize("chunk_frames", [1, 7, 50])
def test_pieces_give_the_one_pass_frames(layer_bundle: Path, chunk_frames: int) -> None:
    whole, pieces = _runner(layer_bundle, 10**6), _runner(layer_bundle, chunk_frames)
    for seconds, seed in ((2.37, 1), (0.41, 2), (1.0, 3)):
        x = _signal(seconds, seed)
        frames = pieces.features(x)
        assert frames.shape[1] == pieces.frames_for(x.shape[1])
        assert np.abs(frames - whole.features(x)).max() < 1e-5
        assert np.abs(pieces.run(x) - whole.run(x)).max() < 1e-4


def test_split_and_whole_exports_agree(tmp_path: Path, layer_model: Path, layer_bundle: Path) -> None:
    pytest.importorskip("torch")
    from phonedge_export import export_bundle

    whole = tmp_path / "whole"
    export_bundle(layer_model, whole, quantize="none", split_encoder_graph=False)
    assert read_manifest(whole).graph.encoder is None and not (whole / "encoder.onnx").exists()
    x = _signal(1.9, 4)
    a = phonedge.load(whole).logits(x[0])
    b = phonedge.load(layer_bundle).logits(x[0])
    assert np.abs(a - b).max() < 1e-4


def test_group_norm_models_cannot_split(tmp_path: Path, group_model: Path) -> None:
    pytest.importorskip("torch")
    from phonedge.errors import ExportError
    from phonedge_export import export_bundle

    with pytest.raises(ExportError, match="group-norm feature encoder"):
        export_bundle(group_model, tmp_path / "b", quantize="none", split_encoder_graph=True)
    assert not (tmp_path / "b").exists()


@pytest.fixture()
def split_copy(layer_bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(layer_bundle, dst)
    return dst


def _edit(bundle: Path, change) -> None:
    path = bundle / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_missing_encoder_file(split_copy: Path) -> None:
    (split_copy / "encoder.onnx").unlink()
    with pytest.raises(BundleNotFoundError, match="'encoder.onnx' named in the manifest is missing"):
        phonedge.load(split_copy)


def test_encoder_output_the_graph_does_not_read(split_copy: Path) -> None:
    _edit(split_copy, lambda d: d["graph"]["encoder"].update(output="nowhere"))
    with pytest.raises(ModelBundleError, match="lack the encoder's output 'nowhere'"):
        phonedge.load(split_copy)


def test_encoder_input_the_graph_lacks(split_copy: Path) -> None:
    _edit(split_copy, lambda d: d["graph"]["encoder"].update(input="samples"))
    with pytest.raises(ModelBundleError, match=r"inputs \['samples'\] that encoder.onnx lacks"):
        phonedge.load(split_copy)


def test_frame_grid_that_disagrees_with_the_encoder(split_copy: Path) -> None:
    _edit(split_copy, lambda d: d["audio"].update(frame_stride=160))
    rec = phonedge.load(split_copy)
    with pytest.raises(ModelBundleError, match="frame grid"):
        rec.predict(_signal(1.2, 5)[0], sample_rate=16_000)


def test_encoder_field_of_the_wrong_shape(split_copy: Path) -> None:
    _edit(split_copy, lambda d: d["graph"].update(encoder={"file": "encoder.onnx"}))
    with pytest.raises(ModelBundleError, match="missing or unexpected field"):
        phonedge.load(split_copy)


def test_version_1_manifests_still_load(group_bundle: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(group_bundle, old)

    def to_v1(data: dict) -> None:
        data["format_version"] = 1
        del data["graph"]["encoder"]

    _edit(old, to_v1)
    x = _signal(1.1, 6)[0]
    assert np.array_equal(phonedge.load(old).logits(x), phonedge.load(group_bundle).logits(x))


def test_bad_chunk_frames(layer_bundle: Path) -> None:
    with pytest.raises(ValueError, match="chunk_frames"):
        _runner(layer_bundle, 0)
