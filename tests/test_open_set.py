"""The open-set class decision: each reason, the score, the threshold rule, and the acoustic speech evidence."""

from __future__ import annotations

import numpy as np
import pytest

from phonedge.decide import CLOSED_SET, OpenSet, ClassDecider, free_path_log_prob, threshold_for_rejection_rate
from phonedge.errors import PhonedgeError
from phonedge.grid import FrameGrid
from phonedge.manifest import ClassLabel, TokenizerSpec
from phonedge.scoring import ctc_log_likelihood, log_softmax
from phonedge.speech import (FFT_SIZE, LINE_HALF_WIDTH, SPEECH_GATE_DB, TONAL_LINES, TONAL_SHARE, frame_energy_db,
                             speech_evidence)

SPEC = TokenizerSpec(kind="Wav2Vec2PhonemeCTCTokenizer", vocab=["<pad>", "a", "b", "c", "d"], blank_id=0)
CLASSES = [ClassLabel("x", "a b"), ClassLabel("y", "c")]
GRID = FrameGrid(16000, 320, 400)
RATE = 16000


def path_log_probs(ids: list[int], sharp: float = 8.0, vocab: int = 5) -> np.ndarray:
    """Log-probabilities whose greedy path is IDS (one symbol per frame)."""
    logits = np.zeros((len(ids), vocab), dtype=np.float32)
    logits[np.arange(len(ids)), ids] = sharp
    return log_softmax(logits)


def test_in_set_gets_its_class_with_a_score_near_zero() -> None:
    lp = path_log_probs([0, 1, 1, 0, 2, 0])
    decision = ClassDecider(SPEC, CLASSES).decide(lp, "a b")
    assert decision.label == "x" and decision.reason is None
    assert decision.score == pytest.approx(ctc_log_likelihood(lp, [1, 2], 0) - free_path_log_prob(lp))
    assert decision.score > -0.1 and decision.probs is not None and decision.probs["x"] > 0.99


def test_other_phonemes_are_out_of_set_with_conditional_probs() -> None:
    lp = path_log_probs([0, 4, 4, 0, 3, 0])  # "d c": not "a b", not "c"
    decision = ClassDecider(SPEC, CLASSES).decide(lp, "d c")
    assert decision.label is None and decision.reason == "out_of_set" and decision.score < -5
    assert decision.probs is not None and sum(decision.probs.values()) == pytest.approx(1.0)
    closed = ClassDecider(SPEC, CLASSES, open_set=CLOSED_SET).decide(lp, "d c")
    assert closed.label == "y" and closed.reason is None and closed.score == pytest.approx(decision.score)


def test_threshold_decides_between_class_and_none() -> None:
    lp = path_log_probs([0, 4, 4, 0, 3, 0])
    score = ClassDecider(SPEC, CLASSES).decide(lp, "d c").score
    assert ClassDecider(SPEC, CLASSES, open_set=OpenSet(score)).decide(lp, "d c").label == "y"
    assert ClassDecider(SPEC, CLASSES, open_set=OpenSet(score + 1e-6)).decide(lp, "d c").reason == "out_of_set"


def test_nothing_heard_is_no_speech() -> None:
    lp = path_log_probs([0] * 10)
    decision = ClassDecider(SPEC, CLASSES).decide(lp, "")
    assert decision.label is None and decision.reason == "no_speech"


@pytest.mark.parametrize("evidence", ["silent", "tonal"])
def test_silence_and_tones_by_the_waveform_are_no_speech(evidence: str) -> None:
    lp = path_log_probs([0, 1, 1, 0, 2, 0])
    t = np.arange(RATE) / RATE
    samples = np.zeros(RATE) if evidence == "silent" else 0.1 * np.sin(2 * np.pi * 440 * t)
    ev = speech_evidence(samples.astype(np.float32), GRID)
    assert getattr(ev, evidence)
    decision = ClassDecider(SPEC, CLASSES).decide(lp, "a b", ev)
    assert decision.label is None and decision.reason == "no_speech"
    assert ClassDecider(SPEC, CLASSES).decide(lp, "a b").label == "x"  # the model alone would say x


def test_too_few_frames_for_any_class_is_too_short() -> None:
    lp = path_log_probs([1])
    two = [ClassLabel("x", "a b"), ClassLabel("z", "c d")]
    for rule in (OpenSet(), CLOSED_SET):
        decision = ClassDecider(SPEC, two, open_set=rule).decide(lp, "a")
        assert decision.label is None and decision.reason == "too_short" and decision.score is None
    nearest = ClassDecider(SPEC, two, classify="nearest").decide(lp, "a")
    assert nearest.label is None and nearest.reason == "too_short"


def test_no_classes_no_decision() -> None:
    decision = ClassDecider(SPEC, []).decide(path_log_probs([1, 0]), "a")
    assert (decision.label, decision.reason, decision.score, decision.probs) == (None, None, None, None)


def test_nearest_is_open_set_too() -> None:
    lp = path_log_probs([0, 4, 4, 0, 3, 0])
    decision = ClassDecider(SPEC, CLASSES, classify="nearest").decide(lp, "d c")
    assert decision.label is None and decision.reason == "out_of_set" and decision.probs is None


@pytest.mark.parametrize("seed", range(20))
def test_threshold_for_rejection_rate_is_the_highest_that_keeps_the_rate(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=rng.integers(1, 300)).round(rng.integers(1, 4))  # ties included
    rate = float(rng.uniform(0, 0.3))
    t = threshold_for_rejection_rate(scores, rate)
    assert np.mean(scores < t) <= rate
    higher = scores[scores > t]
    if higher.size:
        assert np.mean(scores < higher.min()) > rate


def test_threshold_for_rejection_rate_refuses_nonsense() -> None:
    with pytest.raises(PhonedgeError, match="no in-set scores"):
        threshold_for_rejection_rate([], 0.01)
    with pytest.raises(PhonedgeError, match="rejection rate"):
        threshold_for_rejection_rate([0.0], 1.0)


def _naive_evidence(x: np.ndarray) -> tuple[int, float, float]:
    """Frame by frame, without blocks: loud frames, their energy, and the tonal frames' energy."""
    frames = GRID.frames_for(len(x))
    levels = frame_energy_db(x, frames, GRID.stride, GRID.receptive_field)
    loud = energy = tonal = 0.0
    for f in range(frames):
        if levels[f] < SPEECH_GATE_DB:
            continue
        frame = x[f * 320 : f * 320 + 400] * np.hanning(400)
        power = np.abs(np.fft.rfft(frame, n=FFT_SIZE)) ** 2
        total, taken = power.sum(), 0.0
        for _ in range(TONAL_LINES):
            peak = int(power.argmax())
            lo, hi = max(0, peak - LINE_HALF_WIDTH), min(len(power), peak + LINE_HALF_WIDTH + 1)
            taken += power[lo:hi].sum()
            power[lo:hi] = 0
        loud += 1
        energy += 10 ** (levels[f] / 10)
        tonal += 10 ** (levels[f] / 10) if taken / (total + 1e-30) >= TONAL_SHARE else 0.0
    return int(loud), energy, tonal


@pytest.mark.parametrize("seed", range(6))
def test_speech_evidence_in_blocks_equals_frame_by_frame(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(400, RATE * 14))
    t = np.arange(n) / RATE
    x = (0.05 * np.sin(2 * np.pi * rng.uniform(80, 3000) * t) * (t < rng.uniform(0, 14))
         + rng.normal(0, 10 ** rng.uniform(-4, -1), n)).astype(np.float32)
    ev = speech_evidence(x, GRID)
    loud, energy, tonal = _naive_evidence(x)
    assert ev.loud_frames == loud
    assert ev.loud_energy == pytest.approx(energy, rel=1e-6)
    assert ev.tonal_energy == pytest.approx(tonal, rel=1e-6, abs=1e-12)


def test_speech_evidence_merges() -> None:
    a = speech_evidence(np.full(4000, 0.1, dtype=np.float32), GRID)
    b = speech_evidence(np.zeros(4000, dtype=np.float32), GRID)
    assert a.merged(b).loud_frames == a.loud_frames and a.merged(b).loud_energy == a.loud_energy
    assert b.silent and not b.tonal and not a.silent


def test_real_speech_is_neither_silent_nor_tonal(real_recordings: list) -> None:
    from phonedge.audio import prepare_audio

    for path in real_recordings:
        ev = speech_evidence(prepare_audio(path, None, RATE, 400), GRID)
        assert not ev.silent and not ev.tonal, path


@pytest.mark.parametrize("scale", [1e20, 1e36, 3e38])
def test_huge_tones_and_noise_are_judged_as_at_unit_scale(scale: float) -> None:
    """Finite samples near float32's limit: the spectrum must not overflow into NaN shares."""
    import warnings

    t = np.arange(RATE) / RATE
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    noise = np.random.default_rng(2).uniform(-1, 1, RATE).astype(np.float32)
    for unit in (tone, noise):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ev = speech_evidence((unit * np.float32(scale)).astype(np.float32), GRID)
        small = speech_evidence(unit, GRID)
        assert (ev.loud_frames, ev.tonal) == (small.loud_frames, small.tonal)
