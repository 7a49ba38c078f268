"""Forced alignment end to end: the API, its errors, JSON/CTM/TextGrid output, the CLI, Praat reading it back."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import phonedge
from phonedge import alignment_formats
from phonedge.alignment import DELETED, align_log_probs, candidate_ids
from phonedge.cli import main
from phonedge.errors import (
    AlignmentError,
    AlignmentTooShortError,
    EmptyTranscriptError,
    UnknownLabelError,
    UnknownUnitError,
)
from phonedge.scoring import log_softmax

RATE = 16000
TOKENS = ["<pad>", "a", "b", "c"]
READ_BACK = """form Read a TextGrid
    sentence path
endform
Read from file: path$
tiers = Get number of tiers
for tier from 1 to tiers
    name$ = Get tier name: tier
    intervals = Get number of intervals: tier
    for i from 1 to intervals
        start = Get start time of interval: tier, i
        end = Get end time of interval: tier, i
        label$ = Get label of interval: tier, i
        appendInfoLine: name$, tab$, fixed$(start, 6), tab$, fixed$(end, 6), tab$, label$
    endfor
endfor
"""


def _peaks(sequence: list[int], frames: int) -> np.ndarray:
    """Log-probs that say blank everywhere except SEQUENCE's ids at the given frames ({frame: id})."""
    logits = np.zeros((frames, len(TOKENS)))
    logits[:, 0] = 6.0
    for frame, unit in sequence:
        logits[frame] = 0.0
        logits[frame, unit] = 8.0
    return log_softmax(logits)


def _align(lp: np.ndarray, ids: list[int], **kwargs) -> phonedge.Alignment:
    return align_log_probs(lp, ids, TOKENS, 0, 0.02, np.array([1, 2, 3]), **kwargs)


def test_units_start_at_their_frames_and_end_where_the_next_starts() -> None:
    lp = _peaks([(3, 1), (4, 1), (8, 2), (12, 3)], 16)
    result = _align(lp, [1, 2, 3], duration=0.33)
    assert [(u.text, u.start_frame, u.end_frame) for u in result.units] == [("a", 3, 8), ("b", 8, 12), ("c", 12, 13)]
    assert [u.start for u in result.units] == pytest.approx([0.06, 0.16, 0.24])
    assert result.units[-1].end == pytest.approx(0.26)
    assert all(u.score > 0.99 and u.preferred is None for u in result.units)
    assert result.score == pytest.approx(np.exp(result.log_score)) and result.duration == 0.33
    assert result.transcript == "a b c" and result.path_log_prob <= result.log_likelihood <= 0


def test_a_substituted_unit_scores_low_and_names_the_preferred_one() -> None:
    lp = _peaks([(3, 1), (8, 3), (12, 3)], 16)  # said "a c c", asked "a b c"
    units = _align(lp, [1, 2, 3]).units
    assert units[1].score < 0.01 and units[1].preferred == "c"
    assert units[0].score > 0.99 and units[0].preferred is None
    extra = _align(_peaks([(3, 1), (12, 3)], 16), [1, 2, 3]).units  # "b" never said at all
    assert extra[1].score < 0.05 and extra[1].preferred == DELETED


def test_star_lets_extra_speech_go_unaligned() -> None:
    lp = _peaks([(1, 3), (2, 2), (6, 1), (9, 2), (13, 3), (14, 1)], 16)  # "c b" + "a b" + "c a"
    plain, starred = _align(lp, [1, 2]), _align(lp, [1, 2], star=True)
    assert [u.start_frame for u in starred.units] == [6, 9]
    assert starred.path_log_prob > plain.path_log_prob
    assert all(u.score > 0.9 for u in starred.units)


def test_errors_name_the_problem() -> None:
    with pytest.raises(EmptyTranscriptError, match="empty"):
        _align(_peaks([], 5), [])
    with pytest.raises(AlignmentTooShortError, match="needs at least 3"):
        _align(_peaks([], 2), [1, 1])
    assert issubclass(AlignmentTooShortError, AlignmentError) and issubclass(AlignmentError, ValueError)


def test_scores_refuse_what_would_not_fit_and_times_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from phonedge import alignment

    monkeypatch.setattr(alignment, "MAX_SCORE_TABLE_BYTES", 1000)
    lp = _peaks([(3, 1), (8, 2), (12, 3)], 16)
    with pytest.raises(phonedge.AlignmentTooLongError, match="pass scores=False"):
        _align(lp, [1, 2, 3])
    assert [u.start_frame for u in _align(lp, [1, 2, 3], scores=False).units] == [3, 8, 12]


def test_candidates_skip_blank_and_special_tokens() -> None:
    from phonedge.manifest import TokenizerSpec

    spec = TokenizerSpec(kind="Wav2Vec2CTCTokenizer", vocab=["<pad>", "<s>", "|", "a", "b", "a"], blank_id=0)
    assert candidate_ids(spec, 6).tolist() == [3, 4]


@pytest.fixture(scope="module")
def labelled(layer_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny phoneme bundle with two class labels in its manifest."""
    bundle = tmp_path_factory.mktemp("align") / "bundle"
    shutil.copytree(layer_bundle, bundle)
    manifest = json.loads((bundle / "phonedge.json").read_text())
    manifest["labels"] = [{"label": "0", "transcript": "b iy", "name": "bee"},
                          {"label": "1", "transcript": "s ow", "name": "sew"}]
    (bundle / "phonedge.json").write_text(json.dumps(manifest))
    return bundle


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "utt.wav"
    sf.write(path, np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32), RATE)
    return path


def test_recognizer_align_by_text_and_by_label(labelled: Path, wav: Path) -> None:
    rec = phonedge.load(labelled)
    by_text = rec.align(wav, transcript="b  iy")
    by_label = rec.align(wav, label=0)
    assert by_text.units == by_label.units and by_text.transcript == "b iy"
    assert by_label.label == "0" and by_label.name == "bee" and by_text.label is None
    assert by_text.duration == pytest.approx(1.0)
    ends = [u.end for u in by_text.units]
    assert 0 <= by_text.start < ends[0] <= by_text.units[1].start < ends[1] <= 1.0
    samples, _ = sf.read(wav, dtype="float32")
    assert rec.align(samples, RATE, transcript="b iy") == by_text


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [({"transcript": "b zz"}, UnknownUnitError, "'zz' is not in the model's vocabulary"),
     ({"transcript": "  "}, EmptyTranscriptError, "holds no units"),
     ({"label": "7"}, UnknownLabelError, "not one of the classes \\(0, 1\\)"),
     ({}, AlignmentError, "exactly one of"),
     ({"transcript": "b", "label": "0"}, AlignmentError, "exactly one of"),
     ({"transcript": "b iy " * 40}, AlignmentTooShortError, "needs at least 80")],
)
def test_recognizer_align_errors(labelled: Path, wav: Path, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        phonedge.load(labelled).align(wav, **kwargs)


def test_cli_json_and_ctm_to_stdout(labelled: Path, wav: Path) -> None:
    res = CliRunner().invoke(main, ["align", str(wav), "-m", str(labelled), "--label", "1"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)
    assert row["path"] == str(wav) and row["label"] == "1" and [u["text"] for u in row["units"]] == ["s", "ow"]
    res = CliRunner().invoke(main, ["align", str(wav), "-m", str(labelled), "--text", "s ow", "--format", "ctm"])
    assert res.exit_code == 0, res.output
    lines = [line.split() for line in res.output.splitlines()]
    assert [line[4] for line in lines] == ["s", "ow"] and all(line[:2] == [str(wav), "1"] for line in lines)
    starts = [float(line[2]) for line in lines]
    assert starts == pytest.approx([u["start"] for u in row["units"]])


def test_cli_eval_list_writes_one_file_per_row(labelled: Path, wav: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.wav"
    shutil.copy(wav, other)
    table = tmp_path / "m.tsv"
    table.write_text(f"path\ttranscript\tlabel\n{wav}\tb iy\t0\nother.wav\ts ow\t1\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["align", "-m", str(labelled), "--eval-list", str(table), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["other.json", "utt.json"]
    assert json.loads((out / "other.json").read_text())["transcript"] == "s ow"


def test_cli_usage_errors_and_failures(labelled: Path, wav: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke
    for args, message in [(["--text", "b", "--label", "0"], "exactly one of"),
                          ([], "exactly one of"),
                          (["--text", "b", "--format", "textgrid"], "give --output DIR")]:
        res = run(main, ["align", str(wav), "-m", str(labelled), *args])
        assert res.exit_code == 2 and message in res.output
    res = run(main, ["align", "-m", str(labelled), "--text", "b"])
    assert res.exit_code == 2 and "give audio FILES" in res.output
    res = run(main, ["align", str(wav), str(tmp_path / "missing.wav"), "-m", str(labelled), "--text", "b zz"])
    assert res.exit_code == 2 and res.output.count("is not in the model's vocabulary") == 1
    res = run(main, ["align", str(wav), str(tmp_path / "missing.wav"), "-m", str(labelled), "--label", "1"])
    assert res.exit_code == 1 and "missing.wav" in res.output and "1 of 2 files failed" in res.output
    assert json.loads(res.output.splitlines()[0])["label"] == "1"


def _intervals(text: str) -> list[tuple[str, float, float, str]]:
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return [(tier, float(start), float(end), label) for tier, start, end, label in rows]


def test_textgrid_tiers_and_praat_reads_back_the_same_intervals(labelled: Path, wav: Path, tmp_path: Path) -> None:
    pytest.importorskip("praatio")
    res = CliRunner().invoke(main, ["align", str(wav), "-m", str(labelled), "--label", "0", "--format", "textgrid",
                                    "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    grid_file = tmp_path / "utt.TextGrid"
    from praatio import textgrid

    grid = textgrid.openTextgrid(str(grid_file), includeEmptyIntervals=True)
    assert grid.tierNames == ("phones", "words")
    ours = []
    for tier in grid.tierNames:
        ours += [(tier, e.start, e.end, e.label) for e in grid.getTier(tier).entries]
    result = phonedge.load(labelled).align(wav, label=0)
    phones = [(s, e, label) for tier, s, e, label in ours if tier == "phones" and label]
    assert phones == [(round(u.start, 4), round(u.end, 4), u.text) for u in result.units]
    assert [label for tier, _, _, label in ours if tier == "words" and label] == ["0: bee"]
    assert ours[0][1] == 0 and max(e for _, _, e, _ in ours) == pytest.approx(1.0)
    praat = shutil.which("praat")
    if praat is None:
        pytest.skip("Debian's praat is not installed (make test installs it as root): read-back unchecked")
    script = tmp_path / "read.praat"
    script.write_text(READ_BACK)
    done = subprocess.run([praat, "--run", str(script), str(grid_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    theirs = _intervals(done.stdout)
    assert [(t, label) for t, _, _, label in theirs] == [(t, label) for t, _, _, label in ours]
    assert np.allclose([[s, e] for _, s, e, _ in theirs], [[s, e] for _, s, e, _ in ours], atol=1e-6)


def test_ctm_and_json_helpers_round_and_clamp() -> None:
    lp = _peaks([(3, 1), (8, 2)], 12)
    result = _align(lp, [1, 2], duration=0.2)  # the last unit's frames end at 0.18 s
    first = alignment_formats.to_ctm(result, "x").splitlines()[0]
    assert first == f"x 1 0.0600 0.1000 a {result.units[0].score:.4f}"
    assert json.loads(alignment_formats.to_json(result, "x"))["units"][1]["end"] == 0.18
    short = _align(lp, [1, 2], duration=0.17)
    assert alignment_formats.to_ctm(short, "x").splitlines()[1].split()[2:4] == ["0.1600", "0.0100"]


def test_without_scores_the_times_are_the_same(labelled: Path, wav: Path) -> None:
    rec = phonedge.load(labelled)
    full, bare = rec.align(wav, label=1), rec.align(wav, label=1, scores=False)
    assert [(u.start, u.end) for u in bare.units] == [(u.start, u.end) for u in full.units]
    assert bare.score is None and all(u.score is None and u.preferred is None for u in bare.units)
    assert bare.log_likelihood == pytest.approx(full.log_likelihood)
    assert json.loads(bare.to_json())["units"][0]["score"] is None
    assert len(alignment_formats.to_ctm(bare, "x").split("\n")[0].split()) == 5
    res = CliRunner().invoke(main, ["align", str(wav), "-m", str(labelled), "--label", "1", "--no-scores"])
    assert res.exit_code == 0 and json.loads(res.output)["score"] is None


def test_predict_can_align_the_decided_class(labelled: Path, wav: Path, tmp_path: Path) -> None:
    """predict(align=True) carries what align(label=the decided class) gives; no label, nothing to align."""
    rec = phonedge.load(labelled, open_set=False)  # closed set: random audio still gets a class
    plain = rec.predict(wav)
    aligned = rec.predict(wav, align=True)
    assert aligned.label == plain.label is not None and aligned.logits is None
    assert aligned.alignment == rec.align(wav, label=plain.label)
    assert aligned.to_dict()["alignment"] == aligned.alignment.to_dict()
    assert {k: v for k, v in aligned.to_dict().items() if k != "alignment"} == plain.to_dict()
    assert "alignment" not in plain.to_dict()
    kept = rec.predict(wav, align=True, return_logits=True)
    assert kept.logits is not None and np.array_equal(kept.logits, rec.predict(wav, return_logits=True).logits)
    refused = phonedge.load(labelled, reject_threshold=1e9).predict(wav, align=True)  # nothing passes
    assert refused.label is None and refused.alignment is None and "alignment" not in refused.to_dict()
    missing = tmp_path / "missing.wav"
    outcomes = list(rec.predict_each([wav, missing, wav], align=True, batch_size=2))
    assert [o.prediction.alignment if o.prediction else None for o in outcomes] == \
        [aligned.alignment, None, aligned.alignment]
    assert outcomes[1].error is not None


def test_cli_predict_align(labelled: Path, wav: Path) -> None:
    rec = phonedge.load(labelled, open_set=False)
    expected = rec.predict(wav, align=True)
    runner = CliRunner()
    out = runner.invoke(main, ["predict", "--align", "--closed-set", "--json", "--model", str(labelled), str(wav)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"path": str(wav), **expected.to_dict(timestamps=False)}
    plain = runner.invoke(main, ["predict", "--align", "--closed-set", "--model", str(labelled), str(wav)])
    assert plain.exit_code == 0, plain.output
    columns = plain.stdout.rstrip("\n").split("\t")
    assert columns[-1] == "aligned: " + " ".join(
        f"{u.text}@{u.start:.2f}-{u.end:.2f}={u.score:.2f}" for u in expected.alignment.units)
