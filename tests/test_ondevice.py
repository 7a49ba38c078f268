"""``phonedge web``'s folder: Silero VAD's model and its MIT licence beside the bundle when installed, else a note."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from phonedge import ondevice, site_vad
from phonedge.cli import main as cli
from phonedge.vad import vad_available

needs_silero = pytest.mark.skipif(not vad_available(),
                                  reason="silero-vad not installed (pip install --no-deps silero-vad)")


@pytest.fixture()
def web_dir(tmp_path: Path) -> Path:
    """A stand-in for phonedge's web/ folder with the files write_site copies."""
    web = tmp_path / "web"
    for name in ("src/index.js", "site/index.html", "site/app.js",
                 *(f"node_modules/onnxruntime-web/dist/{n}" for n in ondevice.ORT_FILES)):
        (web / name).parent.mkdir(parents=True, exist_ok=True)
        (web / name).write_text("//\n")
    return web


@needs_silero
def test_the_site_carries_silero_vad_and_its_licence(layer_bundle: Path, web_dir: Path, tmp_path: Path) -> None:
    site = ondevice.write_site(layer_bundle, tmp_path / "site", web_dir=web_dir)
    model, _ = site_vad.silero_for_site() or (None, None)
    assert model is not None
    assert (site / "bundle" / site_vad.SILERO_SITE_NAME).read_bytes() == model.read_bytes()
    licence = (site / "bundle" / site_vad.SILERO_LICENCE_NAME).read_text()
    assert "MIT License" in licence and "Copyright (c)" in licence and "Silero" in licence
    assert "Permission is hereby granted" in licence and "WITHOUT WARRANTY" in licence
    assert ondevice.site_detector(site) == "silero"
    result = CliRunner().invoke(cli, ["web", str(layer_bundle), "-o", str(tmp_path / "cli"), "--web-dir", str(web_dir)])
    assert result.exit_code == 0, result.output
    assert "Silero VAD" in result.output


def test_without_silero_the_page_uses_energy_and_the_cli_says_so(layer_bundle: Path, web_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site_vad, "silero_model_path", lambda: None)
    monkeypatch.setattr("phonedge.vad.silero_model_path", lambda: None)
    site = ondevice.write_site(layer_bundle, tmp_path / "site", web_dir=web_dir)
    assert not (site / "bundle" / site_vad.SILERO_SITE_NAME).exists()
    assert not (site / "bundle" / site_vad.SILERO_LICENCE_NAME).exists()
    assert ondevice.site_detector(site) == "energy"
    result = CliRunner().invoke(cli, ["web", str(layer_bundle), "-o", str(tmp_path / "cli"), "--web-dir", str(web_dir)])
    assert result.exit_code == 0, result.output
    assert "energy detector" in result.output and "pip install --no-deps silero-vad" in result.output


def test_the_site_shares_the_live_pages_worklet_and_style(layer_bundle: Path, web_dir: Path, tmp_path: Path) -> None:
    """One microphone tap and one stylesheet for both pages: the site gets the server package's own files."""
    from importlib import resources

    site = ondevice.write_site(layer_bundle, tmp_path / "site", web_dir=web_dir)
    static = resources.files("phonedge.serve") / "static"
    for name in ("worklet.js", "page.css"):
        assert (site / name).read_bytes() == (static / name).read_bytes()
