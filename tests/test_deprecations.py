"""Renamed names keep working for a release: each old name warns, names its new one and gives the same result."""

from __future__ import annotations

import importlib
from importlib.machinery import PathFinder
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import phonedge
from phonedge import audio, errors, evaluate
from phonedge.cli import main
from phonedge.deprecation import REMOVED_IN, renamed_attributes

RATE = 16000


@pytest.fixture()
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "tone.wav"
    sf.write(path, (0.1 * np.sin(np.arange(12000) / 5)).astype(np.float32), 8000)
    return path


@pytest.fixture()
def eval_list(tmp_path: Path, wav: Path) -> Path:
    path = tmp_path / "eval.tsv"
    path.write_text(f"path\ttranscript\tlabel\n{wav}\tb iy\t\n")
    return path


@pytest.mark.parametrize(("module", "old", "new"), [
    (phonedge, "EvalManifestError", "EvalListError"),
    (phonedge, "EvalManifestNotFoundError", "EvalListNotFoundError"),
    (errors, "EvalManifestError", "EvalListError"),
    (errors, "EvalManifestNotFoundError", "EvalListNotFoundError"),
    (audio, "read_audio", "decode_file"),
    (audio, "load_audio", "prepare_audio"),
    (evaluate, "read_eval_manifest", "read_eval_list"),
])
def test_old_module_names_warn_and_are_the_new_ones(module: object, old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"{old} is renamed \S*{new}; the old name goes in {REMOVED_IN}"):
        assert getattr(module, old) is getattr(module, new)


def test_from_import_of_an_old_name_warns_at_the_importer() -> None:
    with pytest.warns(DeprecationWarning, match="decode_file") as caught:
        exec("from phonedge.audio import read_audio", {})
    assert caught[0].filename == "<string>"


def test_old_audio_functions_give_the_same_samples(wav: Path) -> None:
    with pytest.warns(DeprecationWarning, match="decode_file"):
        samples, rate = audio.read_audio(wav)
    new_samples, new_rate = audio.decode_file(wav)
    np.testing.assert_array_equal(samples, new_samples)
    assert rate == new_rate == 8000
    with pytest.warns(DeprecationWarning, match="prepare_audio"):
        old = audio.load_audio(wav, None, RATE, 400)
    np.testing.assert_array_equal(old, audio.prepare_audio(wav, None, RATE, 400))


def test_old_eval_list_reader_and_errors(eval_list: Path, tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="read_eval_list"):
        assert evaluate.read_eval_manifest(eval_list) == evaluate.read_eval_list(eval_list)
    with pytest.warns(DeprecationWarning, match="EvalListNotFoundError"):
        old_error = phonedge.EvalManifestNotFoundError
    with pytest.raises(old_error, match="eval list not found"):
        evaluate.read_eval_list(tmp_path / "nope.tsv")


@pytest.mark.parametrize("old", ["read_audio", "load"])
def test_old_recognizer_methods(layer_bundle: Path, wav: Path, old: str) -> None:
    rec = phonedge.load(layer_bundle)
    x = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    with pytest.warns(DeprecationWarning, match=rf"Recognizer.{old} is renamed Recognizer.prepare_audio"):
        samples = getattr(rec, old)(x, RATE)
    np.testing.assert_array_equal(samples, rec.prepare_audio(x, RATE))
    with pytest.warns(DeprecationWarning, match="prepare_audio"):
        from_file = getattr(rec, old)(wav)
    np.testing.assert_array_equal(from_file, rec.prepare_audio(wav))
    assert "prepare_audio" in (getattr(phonedge.Recognizer, old).__doc__ or "")


def test_eval_manifest_option_is_the_eval_list(layer_bundle: Path, eval_list: Path) -> None:
    new = CliRunner().invoke(main, ["eval", str(layer_bundle), "--eval-list", str(eval_list), "--format", "json"])
    old = CliRunner().invoke(main, ["eval", str(layer_bundle), "--manifest", str(eval_list), "--format", "json"])
    assert new.exit_code == old.exit_code == 0, old.output
    assert old.stdout == new.stdout
    assert "note: --manifest is renamed --eval-list" in old.stderr and "--manifest" not in new.stderr
    both = CliRunner().invoke(main, ["eval", str(layer_bundle), "--eval-list", str(eval_list),
                                     "--manifest", str(eval_list)])
    assert both.exit_code == 2 and "not both" in both.stderr
    neither = CliRunner().invoke(main, ["eval", str(layer_bundle)])
    assert neither.exit_code == 2 and "Missing option '--eval-list'" in neither.stderr
    assert "--manifest" not in CliRunner().invoke(main, ["eval", "--help"]).stdout


def test_align_manifest_option_is_the_eval_list(layer_bundle: Path, eval_list: Path) -> None:
    new = CliRunner().invoke(main, ["align", "-m", str(layer_bundle), "--eval-list", str(eval_list)])
    old = CliRunner().invoke(main, ["align", "-m", str(layer_bundle), "--manifest", str(eval_list)])
    assert old.exit_code == new.exit_code == 0, old.output
    assert old.stdout == new.stdout
    assert "note: --manifest is renamed --eval-list" in old.stderr
    both = CliRunner().invoke(main, ["align", "-m", str(layer_bundle), "--eval-list", str(eval_list),
                                     "--manifest", str(eval_list)])
    assert both.exit_code == 2 and "not both" in both.stderr
    assert "--manifest" not in CliRunner().invoke(main, ["align", "--help"]).stdout


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        phonedge.nope  # noqa: B018
    lookup = renamed_attributes("phonedge.audio", {"old": "decode_file"})
    with pytest.raises(AttributeError):
        lookup("other")


@pytest.mark.parametrize(("old", "new"), [("batching", "batch_policy"), ("live", "live_input"),
                                          ("serve.endpoints", "serve.routes"), ("serve.streaming", "serve.websocket")])
def test_renamed_modules_moved_and_left_no_twin(old: str, new: str) -> None:
    importlib.import_module(f"phonedge.{new}")
    package, _, name = f"phonedge.{old}".rpartition(".")
    # Looked up in this package's own folder (an editable install of another checkout may still hold the old file).
    assert PathFinder.find_spec(f"{package}.{name}", importlib.import_module(package).__path__) is None
