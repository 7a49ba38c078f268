"""A missing, incomplete or corrupt bundle raises a specific error naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import phonedge
from phonedge.errors import BundleNotFoundError, ModelBundleError, ProviderError
from phonedge.manifest import MANIFEST_NAME, read_manifest


@pytest.fixture()
def bundle_copy(layer_bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(layer_bundle, dst)
    return dst


def _edit(bundle: Path, change) -> None:
    path = bundle / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleNotFoundError, match="not found") as info:
        phonedge.load(tmp_path / "nope")
    assert isinstance(info.value, FileNotFoundError)


def test_file_instead_of_folder(tmp_path: Path) -> None:
    f = tmp_path / "model.onnx"
    f.write_bytes(b"x")
    with pytest.raises(ModelBundleError, match="must be a folder"):
        phonedge.load(f)


def test_no_manifest(tmp_path: Path) -> None:
    with pytest.raises(BundleNotFoundError, match=f"{MANIFEST_NAME} is missing"):
        phonedge.load(tmp_path)


def test_manifest_not_json(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ModelBundleError, match="not valid JSON"):
        phonedge.load(bundle_copy)


def test_wrong_format_version(bundle_copy: Path) -> None:
    _edit(bundle_copy, lambda d: d.update(format_version=99))
    with pytest.raises(ModelBundleError, match="format version 99"):
        phonedge.load(bundle_copy)


def test_not_a_phonedge_manifest(bundle_copy: Path) -> None:
    _edit(bundle_copy, lambda d: d.update(format="something-else"))
    with pytest.raises(ModelBundleError, match="not a phonedge bundle manifest"):
        phonedge.load(bundle_copy)


def test_missing_field(bundle_copy: Path) -> None:
    _edit(bundle_copy, lambda d: d.pop("tokenizer"))
    with pytest.raises(ModelBundleError, match="missing or unexpected field"):
        phonedge.load(bundle_copy)


def test_contradictory_fields(bundle_copy: Path) -> None:
    _edit(bundle_copy, lambda d: d["tokenizer"].update(blank_id=10_000, kind="BertTokenizer"))
    with pytest.raises(ModelBundleError, match="blank_id 10000 is outside") as info:
        phonedge.load(bundle_copy)
    assert "BertTokenizer" in str(info.value)


def test_missing_onnx_file(bundle_copy: Path) -> None:
    name = read_manifest(bundle_copy).graph.file
    (bundle_copy / name).unlink()
    with pytest.raises(BundleNotFoundError, match=f"ONNX file '{name}'"):
        phonedge.load(bundle_copy)


def test_corrupt_onnx_file(bundle_copy: Path) -> None:
    path = bundle_copy / read_manifest(bundle_copy).graph.file
    path.write_bytes(b"\x00" * path.stat().st_size)  # the manifest's size, so ONNX Runtime meets it
    with pytest.raises(ModelBundleError, match="ONNX Runtime cannot load"):
        phonedge.load(bundle_copy)


def test_onnx_file_of_another_size(bundle_copy: Path) -> None:
    path = bundle_copy / read_manifest(bundle_copy).graph.file
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size - 1)
    with pytest.raises(ModelBundleError, match=f"{size - 1} bytes, but the manifest says {size}"):
        phonedge.load(bundle_copy)


def test_sha256_checked_on_request(bundle_copy: Path) -> None:
    path = bundle_copy / read_manifest(bundle_copy).graph.file
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size: only the hash can tell
    path.write_bytes(bytes(data))
    read_manifest(bundle_copy)  # the cheap check passes
    with pytest.raises(ModelBundleError, match="sha256 .* differs from the manifest's"):
        read_manifest(bundle_copy, verify=True)


def test_retired_manifest_fields_still_read(bundle_copy: Path) -> None:
    """Bundles written with the fields nothing read (special_tokens, ...) keep loading, with the same manifest."""
    before = read_manifest(bundle_copy)

    def add_retired(data: dict) -> None:
        data["audio"]["return_attention_mask"] = True
        data["tokenizer"].update(special_tokens=["<pad>", "<unk>"], phone_delimiter_token=" ")

    _edit(bundle_copy, add_retired)
    assert read_manifest(bundle_copy) == before
    phonedge.load(bundle_copy)


def test_manifest_names_absent_input(bundle_copy: Path) -> None:
    _edit(bundle_copy, lambda d: d["graph"].update(inputs=["input_values", "speaker_id"]))
    with pytest.raises(ModelBundleError, match="speaker_id"):
        phonedge.load(bundle_copy)


def test_unavailable_provider(layer_bundle: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here")
    with pytest.raises(ProviderError, match="not available"):
        phonedge.load(layer_bundle, provider="cuda")
    with pytest.raises(ProviderError, match="unknown provider"):
        phonedge.load(layer_bundle, provider="tpu")


def test_manifest_round_trip(layer_bundle: Path) -> None:
    m = read_manifest(layer_bundle)
    assert type(m).from_dict(json.loads(m.dumps())) == m
