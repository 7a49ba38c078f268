"""benchmarks/quantization/quant_modes.py: the calibration split it picks and the table it writes
(no export, no timing)."""

from __future__ import annotations


import pytest

from benchmarks.quantization.quant_modes import REFERENCE_DIR, calibration_folder, markdown


def test_calibration_comes_from_the_train_split_of_digits_0_to_3(tmp_path):
    fsdd = tmp_path / "recordings"
    fsdd.mkdir()
    names = [f"{d}_{s}_{i}.wav" for d in range(6) for s in ("ann", "bob") for i in range(12)]
    for name in names:
        (fsdd / name).write_bytes(b"RIFF")
    folder, note = calibration_folder(fsdd, tmp_path / "cache")
    got = sorted(p.name for p in folder.iterdir())
    assert got == sorted(n for n in names if int(n[0]) <= 3 and 5 <= int(n.split("_")[2][:-4]) <= 9)
    assert len(got) == 4 * 2 * 5 and "train-split" in note
    assert calibration_folder(fsdd, tmp_path / "cache")[0] == folder  # reused


def test_without_fsdd_the_committed_test_audio_stands_in_and_says_so(tmp_path):
    folder, note = calibration_folder(tmp_path / "missing", tmp_path / "cache")
    assert folder == REFERENCE_DIR / "audio" and "test split itself" in note


def _results(timed: bool) -> dict:
    mode = {"size_bytes": 2_000_000, "size_share_of_fp32": 0.25, "parity": {"passed": True}, "migrated_sites": 9,
            "float_matmuls": 0, "accuracy": 0.95, "identical_transcripts": 0.99}
    if timed:
        mode.update(load_s=0.5, rss_after_load_mb=80.0,
                    latency={k: {"median_s": 0.01 * float(k), "peak_rss_mb": 90.0, "x_floor": 1.5, "x_int8": 1.0}
                             for k in ("1", "3", "10")})
    return {"environment": {"cpu": {"model": "Test CPU"}, "date": "today"}, "model": "reference",
            "checkpoint": "reference/model", "twin": {}, "calibration": "test", "floor_s": {"1": 0.005},
            "modes": {"int8": mode, "int8-twin-naive": {"export_error": "parity gate failed: frames 0.9"}}}


@pytest.mark.parametrize("timed", [False, True])
def test_table_has_one_row_per_mode_and_the_measured_columns(timed):
    text = markdown(_results(timed))
    rows = [line for line in text.splitlines() if line.startswith("| int8")]
    assert len(rows) == 2
    assert "refused by the gate: parity gate failed" in rows[1]
    width = text.splitlines()[2].count("|")
    assert all(line.count("|") == width for line in text.splitlines()[2:5])
    assert ("30.0" in rows[0]) is timed and ("1.50/1.50/1.50" in rows[0]) is timed
    assert "25.0" in rows[0] and "99.00%" in rows[0] and "9 / 0" in rows[0]
