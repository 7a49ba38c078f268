"""phonedge batch, local engine: rows equal predict's, bad files become rows, resume, and a SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_fixtures import write_bad_files, write_clips
from phonedge.batch import BatchConfig, read_rows, run_batch
from phonedge.cli import main

pytest.importorskip("pyarrow", reason="phonedge batch writes Parquet with pyarrow: install phonedge[batch]")


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], env={"PHONEDGE_MODEL": ""})


def by_path(rows: list[dict]) -> dict[str, dict]:
    assert len({r["path"] for r in rows}) == len(rows), "a path has more than one row"
    return {r["path"]: r for r in rows}


def test_rows_equal_predict_json(reference_bundles: dict, real_recordings: list[Path], tmp_path: Path) -> None:
    bundle = reference_bundles["int8"]
    res = cli("batch", "--model", bundle, "--out", tmp_path / "out", "--workers", "2", *real_recordings)
    assert res.exit_code == 0, res.output
    rows = by_path(read_rows(tmp_path / "out"))
    pred = cli("predict", "--json", "--timestamps", "--model", bundle, *real_recordings)
    records = [json.loads(line) for line in pred.stdout.splitlines()]
    assert len(records) == len(rows) == len(real_recordings)
    for rec in records:
        row = rows[rec["path"]]
        assert row["status"] == "ok" and row["error"] is None
        assert row["text"] == rec["text"] and row["label"] == rec["label"]
        assert row["label_reason"] == rec["label_reason"] and (row["label"] is None) == (rec["label_reason"] is not None)
        assert round(row["label_score"], 4) == rec["label_score"]
        assert round(row["duration"], 6) == rec["duration"]
        assert [(t["text"], round(t["start"], 4), round(t["end"], 4), round(t["confidence"], 6))
                for t in row["tokens"]] == [(t["text"], t["start"], t["end"], t["confidence"]) for t in rec["tokens"]]
        assert {k: round(v, 6) for k, v in row["label_probs"].items()} == rec["label_probs"]
    assert "4 ok, 0 failed, 0 skipped" in res.stderr or f"{len(records)} ok, 0 failed, 0 skipped" in res.stderr


def test_align_adds_each_rows_alignment(reference_bundles: dict, real_recordings: list[Path], tmp_path: Path) -> None:
    import phonedge

    bundle = reference_bundles["int8"]
    res = cli("batch", "--align", "--format", "jsonl", "--model", bundle, "--out", tmp_path / "out", *real_recordings)
    assert res.exit_code == 0, res.output
    rows = by_path(read_rows(tmp_path / "out"))
    rec = phonedge.load(bundle)
    assert any(row["alignment"] for row in rows.values())
    for path in real_recordings:
        row, expected = rows[str(path)], rec.predict(path, align=True).alignment
        if expected is None:
            assert row["alignment"] is None and row["alignment_score"] is None
            continue
        assert [(u["text"], u["start"], u["end"], u["score"], u["preferred"]) for u in row["alignment"]] == \
            [(u.text, u.start, u.end, u.score, u.preferred) for u in expected.units]
        assert row["alignment_score"] == expected.score


def test_one_and_two_workers_and_both_formats_agree(layer_bundle: Path, tmp_path: Path) -> None:
    clips = write_clips(tmp_path / "a", 12)
    results = []
    for name, workers, threads, fmt in [("w1", 1, 1, "parquet"), ("w2", 2, 1, "parquet"), ("j", 2, 1, "jsonl")]:
        summary = run_batch(layer_bundle, clips, tmp_path / name, BatchConfig(workers=workers, threads=threads,
                                                                             fmt=fmt, rows_per_part=5))
        assert (summary.ok, summary.failed, summary.workers) == (12, 0, workers)
        results.append(sorted(read_rows(tmp_path / name), key=lambda r: r["path"]))
    assert results[0] == results[1] == results[2]
    assert len(list((tmp_path / "w2").glob("part-*.parquet"))) == 3


def test_bad_files_become_rows_and_the_rest_completes(layer_bundle: Path, tmp_path: Path) -> None:
    clips = write_clips(tmp_path / "a", 4)
    bad = write_bad_files(tmp_path / "bad")
    missing = tmp_path / "missing.wav"
    res = cli("batch", "--model", layer_bundle, "--out", tmp_path / "out", "--workers", "2",
              clips[0], *bad, missing, *clips[1:])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "4 ok, 4 failed, 0 skipped" in res.stderr
    rows = by_path(read_rows(tmp_path / "out"))
    assert [rows[str(c)]["status"] for c in clips] == ["ok"] * 4
    errors = {Path(p).name: r for p, r in rows.items() if r["status"] == "error"}
    assert "empty file" in errors["empty.wav"]["error"] and "cannot decode" in errors["text.wav"]["error"]
    assert "cannot decode" in errors["truncated.wav"]["error"] and "not found" in errors["missing.wav"]["error"]
    assert all(r["text"] is None and r["tokens"] is None and r["bundle_digest"] for r in errors.values())


def test_rerun_skips_done_and_retries_failures(layer_bundle: Path, tmp_path: Path) -> None:
    clips = write_clips(tmp_path / "a", 6)
    late = tmp_path / "late.wav"
    late.write_text("not yet audio")
    inputs = [*clips, late, clips[0]]  # a repeated input is done once
    first = run_batch(layer_bundle, inputs, tmp_path / "out", BatchConfig(workers=1, rows_per_part=2))
    assert (first.ok, first.failed, first.skipped) == (6, 1, 0)
    write_clips(tmp_path / "tmp", 1)[0].replace(late)  # the bad file is fixed
    second = run_batch(layer_bundle, inputs, tmp_path / "out", BatchConfig(workers=1))
    assert (second.ok, second.failed, second.skipped) == (1, 0, 6)
    rows = by_path(read_rows(tmp_path / "out"))
    assert len(rows) == 7 and all(r["status"] == "ok" for r in rows.values())
    third = run_batch(layer_bundle, inputs, tmp_path / "out", BatchConfig(workers=1))
    assert (third.ok, third.failed, third.skipped) == (0, 0, 7)


def test_another_bundle_is_not_skipped(layer_bundle: Path, layer_bundle_nomask: Path, tmp_path: Path) -> None:
    clips = write_clips(tmp_path / "a", 3)
    run_batch(layer_bundle, clips, tmp_path / "out", BatchConfig(workers=1))
    other = run_batch(layer_bundle_nomask, clips, tmp_path / "out", BatchConfig(workers=1))
    assert (other.ok, other.skipped) == (3, 0)
    rows = read_rows(tmp_path / "out")
    assert Counter(r["bundle_digest"] for r in rows).most_common() and len({r["bundle_digest"] for r in rows}) == 2


def test_bad_bundle_and_no_inputs_are_clean_errors(layer_bundle: Path, tmp_path: Path) -> None:
    clip = write_clips(tmp_path / "a", 1)[0]
    res = cli("batch", "--model", tmp_path, "--out", tmp_path / "out", clip)
    assert res.exit_code == 2 and "phonedge.json is missing" in res.stderr and "Traceback" not in res.output
    (tmp_path / "empty").mkdir()
    res = cli("batch", "--model", layer_bundle, "--out", tmp_path / "out", tmp_path / "empty")
    assert res.exit_code == 2 and "no audio files" in res.stderr


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_completes_exactly_once(layer_bundle: Path, tmp_path: Path) -> None:
    clips = write_clips(tmp_path / "a", 240, seconds=1.0)
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(str(c) for c in clips) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from phonedge.cli import main; main()", "batch", "--model", str(layer_bundle),
           f"@{listing}", "--out", str(out), "--workers", "2", "--rows-per-part", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("part-*.parquet"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, as a machine loss would
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_before = len(read_rows(out))
    assert 0 < done_before < len(clips), "the kill did not land mid-run"
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"{len(clips) - done_before} ok, 0 failed, {done_before} skipped" in res.stderr
    rows = read_rows(out)
    assert sorted(r["path"] for r in rows) == sorted(str(c) for c in clips)  # nothing lost, nothing twice
    assert not list(out.glob(".part-*"))


def test_ray_engine_without_ray_is_a_clear_error(layer_bundle: Path, tmp_path: Path) -> None:
    clip = write_clips(tmp_path / "a", 1)[0]
    code = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ray":
            raise ImportError("ray is blocked for this test")
sys.meta_path.insert(0, Block())
from phonedge.cli import main
sys.argv = ["phonedge", "batch", "--engine", "ray", "--model", {str(layer_bundle)!r}, "--out", {str(tmp_path / "o")!r},
            {str(clip)!r}]
main()
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "pip install 'phonedge[ray]'" in res.stderr and "Traceback" not in res.stderr
