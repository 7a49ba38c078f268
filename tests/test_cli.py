"""The command line: output formats, input expansion, per-file errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from phonedge import __version__
from phonedge.cli import main


@pytest.fixture()
def wavs(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    out = []
    for i, rate in enumerate((8000, 16000, 22050)):
        p = tmp_path / "audio" / f"clip{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, (0.2 * rng.standard_normal(rate)).astype(np.float32), rate)
        out.append(p)
    return out


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env or {"PHONEDGE_MODEL": ""})


def test_version() -> None:
    res = run("--version")
    assert res.exit_code == 0 and __version__ in res.output


def test_plain_output_one_line_per_file(layer_bundle: Path, wavs: list[Path]) -> None:
    res = run("predict", "--model", layer_bundle, *wavs)
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(w) for w in wavs]
    assert "predicting" not in res.stderr  # no progress bar in a pipe


def test_json_lines_with_timestamps(layer_bundle: Path, wavs: list[Path]) -> None:
    res = run("predict", "--json", "--timestamps", "--model", layer_bundle, *wavs)
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert len(records) == 3 and all("tokens" in r and "confidence" in r for r in records)


def test_batch_size_does_not_change_output(layer_bundle: Path, wavs: list[Path]) -> None:
    one = run("predict", "--json", "--model", layer_bundle, *wavs).stdout
    three = run("predict", "--json", "--batch-size", "3", "--model", layer_bundle, *wavs).stdout
    assert one == three


def test_folder_and_list_file_inputs(layer_bundle: Path, wavs: list[Path], tmp_path: Path) -> None:
    listing = tmp_path / "files.txt"
    listing.write_text("# my files\naudio/clip0.wav\n\naudio/clip2.wav\n")
    res = run("predict", "--model", layer_bundle, wavs[0].parent, listing, f"@{listing}")
    assert res.exit_code == 0, res.output
    paths = [line.split("\t")[0] for line in res.stdout.strip().splitlines()]
    assert paths[:3] == [str(w) for w in wavs]
    assert paths[3:] == [str(tmp_path / "audio/clip0.wav"), str(tmp_path / "audio/clip2.wav")] * 2


def test_bad_file_is_reported_and_the_rest_processed(layer_bundle: Path, wavs: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    res = run("predict", "--model", layer_bundle, "--batch-size", "2", wavs[0], bad, tmp_path / "missing.wav", wavs[1])
    assert res.exit_code == 1
    assert len(res.stdout.strip().splitlines()) == 2
    assert f"error: {bad}: cannot decode" in res.stderr
    assert "not found" in res.stderr and "2 of 4 files failed" in res.stderr
    assert "Traceback" not in res.output


def test_no_model(wavs: list[Path]) -> None:
    res = run("predict", "--model", "", wavs[0])
    assert res.exit_code == 2 and "no model bundle" in res.stderr


def test_model_from_environment(layer_bundle: Path, wavs: list[Path]) -> None:
    res = run("predict", wavs[0], env={"PHONEDGE_MODEL": str(layer_bundle)})
    assert res.exit_code == 0, res.output


def test_bad_bundle_is_a_clean_error(tmp_path: Path, wavs: list[Path]) -> None:
    res = run("predict", "--model", tmp_path, wavs[0])
    assert res.exit_code == 2 and "phonedge.json is missing" in res.stderr and "Traceback" not in res.output


def test_unavailable_provider_is_a_clean_error(layer_bundle: Path, wavs: list[Path]) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here")
    res = run("predict", "--provider", "cuda", "--model", layer_bundle, wavs[0])
    assert res.exit_code == 2 and "not available" in res.stderr


def test_empty_folder(layer_bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = run("predict", "--model", layer_bundle, tmp_path / "empty")
    assert res.exit_code == 2 and "no audio files" in res.stderr


def test_eval_formats(reference_bundles: dict, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    rows = (repo / "reference" / "eval.tsv").read_text().splitlines()
    subset = tmp_path / "eval.tsv"
    subset.write_text("\n".join([rows[0]] + [r.replace("audio/", str(repo / "reference/audio") + "/") for r in rows[1::12]]) + "\n")
    table = run("eval", reference_bundles["int8"], "--eval-list", subset)
    assert table.exit_code == 0, table.output
    for name in ("Precision", "Recall", "F1-score", "Support", "Accuracy", "Macro avg", "Weighted avg", "Wer", "Mtrix"):
        assert name in table.stdout
    data = json.loads(run("eval", reference_bundles["int8"], "--eval-list", subset, "--format", "json").stdout)
    assert data["n"] == len(rows[1::12])
    md = run("eval", reference_bundles["int8"], "--eval-list", subset, "--format", "markdown").stdout
    assert "| " in md and "Mtrix" in md


def test_eval_missing_eval_list(layer_bundle: Path, tmp_path: Path) -> None:
    res = run("eval", layer_bundle, "--eval-list", tmp_path / "none.tsv")
    assert res.exit_code == 2 and "Traceback" not in res.output
