"""`phonedge check`, and when `phonedge export` may be missing: only without the export extra, never for a bug."""

from __future__ import annotations

import builtins
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from phonedge import cli
from phonedge.manifest import read_manifest


def test_check_passes_a_good_bundle_and_names_a_changed_file(layer_bundle: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli.main, ["check", str(layer_bundle)])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"ok: {layer_bundle}: model.onnx")
    assert read_manifest(layer_bundle).graph.sha256 in res.output
    bundle = tmp_path / "bundle"
    shutil.copytree(layer_bundle, bundle)
    model = bundle / "model.onnx"
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))
    res = CliRunner().invoke(cli.main, ["check", str(bundle)])
    assert res.exit_code == 2 and "differs from the manifest's" in res.output


def _attach_raising(monkeypatch: pytest.MonkeyPatch, error: ImportError) -> click.Group:
    """Run cli._attach_export on a fresh group with ``import phonedge_export.cli`` raising ERROR."""
    group = click.Group()
    monkeypatch.setattr(cli, "main", group)
    real_import = builtins.__import__

    def fake_import(name: str, *args, **kwargs):
        if name == "phonedge_export.cli":
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    cli._attach_export()
    return group


@pytest.mark.parametrize("missing", ["torch", "optimum.exporters.onnx", "onnx", "phonedge_export"])
def test_missing_export_extra_leaves_a_command_that_says_so(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    group = _attach_raising(monkeypatch, ModuleNotFoundError(f"No module named {missing!r}", name=missing))
    res = CliRunner().invoke(group, ["export", "model", "-o", "out"])
    assert res.exit_code == 2
    assert f"needs the export extra ({missing} is not installed): pip install 'phonedge[export]'" in res.output


@pytest.mark.parametrize(
    "error",
    [ModuleNotFoundError("No module named 'phonedge_export.stages'", name="phonedge_export.stages"),
     ImportError("cannot import name 'export_bundle' from 'phonedge_export.exporter'"),
     ModuleNotFoundError("No module named 'yaml'", name="yaml")],
)
def test_a_bug_in_the_exporter_surfaces(monkeypatch: pytest.MonkeyPatch, error: ImportError) -> None:
    with pytest.raises(ImportError) as info:
        _attach_raising(monkeypatch, error)
    assert info.value is error


def test_export_is_attached_when_installed() -> None:
    pytest.importorskip("phonedge_export")
    res = CliRunner().invoke(cli.main, ["export", "--help"])
    assert res.exit_code == 0 and "--quantize" in res.output
