"""Shared fixtures: tiny random models and their bundles, and the committed reference model's bundles."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference"


def _need_export() -> None:
    for name in ("torch", "transformers", "optimum.exporters.onnx", "onnx"):
        pytest.importorskip(name)


@pytest.fixture(scope="session")
def layer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny layer-norm (xlsr-style) phoneme model folder."""
    _need_export()
    from export_fixtures import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("layer_model"), layer_norm=True)


@pytest.fixture(scope="session")
def group_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny group-norm (wav2vec2-base-style) character model folder."""
    _need_export()
    from export_fixtures import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("group_model"), layer_norm=False, seed=1)


def _export(src: Path, out: Path, **kwargs) -> Path:
    from phonedge_export import export_bundle

    export_bundle(src, out, overwrite=True, **kwargs)
    return out


@pytest.fixture(scope="session")
def layer_bundle(layer_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fp32 bundle of the tiny layer-norm model; its graph takes an attention mask."""
    return _export(layer_model, tmp_path_factory.mktemp("b") / "layer-fp32", quantize="none")


@pytest.fixture(scope="session")
def layer_bundle_nomask(layer_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fp32 bundle of the tiny layer-norm model without an attention-mask input."""
    return _export(layer_model, tmp_path_factory.mktemp("b") / "layer-nomask", quantize="none",
                   with_attention_mask=False)


@pytest.fixture(scope="session")
def group_bundle(group_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fp32 bundle of the tiny group-norm character model."""
    return _export(group_model, tmp_path_factory.mktemp("b") / "group-fp32", quantize="none")


@pytest.fixture(scope="session")
def reference_model() -> Path:
    """The committed, trained reference model (FSDD digits, phonemes)."""
    path = REFERENCE / "model"
    if not (path / "model.safetensors").is_file():
        pytest.skip("reference/model is not trained/committed yet")
    return path


@pytest.fixture(scope="session")
def reference_bundles(reference_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """fp32 and int8 bundles of the reference model, with its class labels."""
    _need_export()
    root = tmp_path_factory.mktemp("reference")
    labels = REFERENCE / "labels.tsv"
    return {
        mode: _export(reference_model, root / mode, quantize=mode, labels=labels)
        for mode in ("none", "int8")
    }


@pytest.fixture(scope="session")
def real_recordings() -> list[Path]:
    """A few committed real FSDD recordings (8 kHz WAV), four speakers, digits 0-3."""
    files = sorted((REFERENCE / "audio").glob("*.wav"))
    if not files:
        pytest.skip("reference/audio is missing")
    return files[::10]
