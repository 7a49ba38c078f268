"""benchmarks/accuracy/alignment.py: energy onset, AUC, a small run on the tiny bundle writing its section
(no timings)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks.accuracy import alignment as bench

RATE = 16000


def test_energy_onset_finds_where_the_tone_starts() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1e-4, RATE)
    x[4000:12000] += 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / RATE)
    assert bench.energy_onset(x, RATE, 30.0) == pytest.approx(4000 / RATE, abs=0.011)


def test_auc_is_the_mann_whitney_statistic() -> None:
    assert bench.auc([3, 4], [1, 2]) == 1.0
    assert bench.auc([1], [1]) == 0.5
    assert bench.auc([2, 0], [1]) == 0.5


def test_a_small_run_writes_json_and_its_section(labelled_digits: tuple[Path, Path], tmp_path: Path) -> None:
    bundle, folder = labelled_digits
    out, md = tmp_path / "alignment.json", tmp_path / "RESULTS.md"
    assert bench.main(["--bundle", str(bundle), "--cost-bundle", str(tmp_path / "none"), "--fsdd", str(folder),
                       "--threads", "1", "--out", str(out), "--results-md", str(md)]) == 0
    results = json.loads(out.read_text())
    assert results["reference"]["n"] == 8
    assert 0 <= results["reference"]["right_class_best_by_gop"] <= 1
    text = md.read_text()
    assert "<!-- section:alignment -->" in text and "First-phoneme onset" in text


@pytest.fixture
def labelled_digits(layer_bundle: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The tiny bundle with classes 0-3 (its own units) and eight FSDD-named noise recordings."""
    bundle = tmp_path / "bundle"
    shutil.copytree(layer_bundle, bundle)
    manifest = json.loads((bundle / "phonedge.json").read_text())
    manifest["labels"] = [{"label": str(i), "transcript": t, "name": t}
                          for i, t in enumerate(["b iy", "s ow", "t a", "k iy ow"])]
    (bundle / "phonedge.json").write_text(json.dumps(manifest))
    folder = tmp_path / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for digit in range(4):
        for index in (0, 1, 7):
            sf.write(folder / f"{digit}_spk_{index}.wav", rng.normal(0, 0.1, RATE // 2).astype(np.float32), RATE)
    return bundle, folder


def test_long_times_only_finds_the_planted_spikes() -> None:
    result = bench.long_times_only(0.2)
    assert result["frames"] == 600 and result["units"] == 60 and result["starts_on_spikes"] > 0.9


def test_words_in_the_sequence_are_measured_one_per_utterance(reference_bundles: dict, tmp_path: Path) -> None:
    """--words aligns the 86 s sequence in one pass: one onset per utterance, merged into the saved run's section."""
    from benchmarks.common.workloads import fsdd_sequence

    audio, words = fsdd_sequence(bench.REPO)
    assert len(words) == 120 and words[0][0] == 0
    assert all(b[0] - a[0] == len(a[1]) + int(0.3 * RATE) for a, b in zip(words, words[1:]))
    out, md = tmp_path / "alignment.json", tmp_path / "RESULTS.md"
    saved = json.loads((bench.REPO / "benchmarks" / "results" / "alignment.json").read_text())
    saved.pop("words", None)
    out.write_text(json.dumps(saved))
    md.write_text("<!-- section:alignment -->\n<!-- /section:alignment -->\n")
    assert bench.main(["--words", "--bundle", str(reference_bundles["int8"]), "--threads", "1", "--out", str(out),
                       "--results-md", str(md)]) == 0
    w = json.loads(out.read_text())["words"]
    assert (w["words"], w["phonemes"]) == (120, 360) and w["onset_inside_own_utterance"] > 100
    assert w["median_abs_ms"] <= w["p90_abs_ms"] and "FSDD sequence aligned" in md.read_text()
