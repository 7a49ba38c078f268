"""Class decisions: CTC likelihood against torch and brute force, edit distance against jiwer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from phonedge.scoring import (
    class_log_likelihoods,
    ctc_log_likelihood,
    edit_distance,
    log_softmax,
    nearest_class,
    posteriors_from_log_likelihoods,
)


def _random_case(rng: np.random.Generator, tight: bool = False, impossible: bool = False):
    """Random log-probs, a target (often with repeats) and a blank id."""
    vocab = int(rng.integers(2, 7))
    blank = int(rng.integers(0, vocab))
    labels = [v for v in range(vocab) if v != blank]
    length = int(rng.integers(0, 6))
    target = [int(rng.choice(labels)) for _ in range(length)]
    if length >= 2 and rng.random() < 0.5:
        target[1] = target[0]  # force an adjacent repeat
    need = len(target) + sum(a == b for a, b in zip(target, target[1:]))
    if impossible:
        frames = need - 1
    elif tight:
        frames = need
    else:
        frames = need + int(rng.integers(0, 8))
    logits = rng.normal(scale=3.0, size=(max(frames, 0), vocab))
    return log_softmax(logits), target, blank


def _torch_log_likelihood(log_probs: np.ndarray, target: list[int], blank: int) -> float:
    """-ctc_loss(reduction="sum") for one utterance, as torch computes it."""
    torch = pytest.importorskip("torch")
    loss = torch.nn.functional.ctc_loss(
        torch.from_numpy(log_probs).double().unsqueeze(1),
        torch.tensor(target, dtype=torch.long),
        input_lengths=torch.tensor([log_probs.shape[0]]),
        target_lengths=torch.tensor([len(target)]),
        blank=blank,
        reduction="sum",
        zero_infinity=False,
    )
    return -float(loss)


def _brute_force(log_probs: np.ndarray, target: list[int], blank: int) -> float:
    """Sum over every frame path that collapses to target (tiny cases only)."""
    frames, vocab = log_probs.shape
    total = 0.0
    for path in itertools.product(range(vocab), repeat=frames):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or k != path[i - 1])]
        if collapsed == target:
            total += math.exp(sum(log_probs[t, k] for t, k in enumerate(path)))
    return math.log(total) if total > 0 else -math.inf


@pytest.mark.parametrize("mode", ["free", "tight"])
def test_ctc_matches_torch(mode: str) -> None:
    rng = np.random.default_rng(0 if mode == "free" else 1)
    for _ in range(150):
        log_probs, target, blank = _random_case(rng, tight=mode == "tight")
        if log_probs.shape[0] == 0:
            continue  # torch needs at least one frame
        ours = ctc_log_likelihood(log_probs, target, blank)
        theirs = _torch_log_likelihood(log_probs, target, blank)
        assert ours == pytest.approx(theirs, abs=1e-4), (target, blank, log_probs.shape)


def test_ctc_impossible_is_minus_inf_like_torch_inf() -> None:
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(60):
        log_probs, target, blank = _random_case(rng, impossible=True)
        if log_probs.shape[0] == 0:
            continue
        assert ctc_log_likelihood(log_probs, target, blank) == -math.inf
        assert _torch_log_likelihood(log_probs, target, blank) == -math.inf
        checked += 1
    assert checked > 20


def test_ctc_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    for frames in range(1, 6):
        for target in ([], [1], [2], [1, 1], [1, 2], [2, 1, 2], [1, 1, 1]):
            log_probs = log_softmax(rng.normal(size=(frames, 3)))
            expected = _brute_force(log_probs, target, blank=0)
            got = ctc_log_likelihood(log_probs, target, blank=0)
            if expected == -math.inf:
                assert got == -math.inf
            else:
                assert got == pytest.approx(expected, abs=1e-9)


def test_ctc_empty_target_is_blank_sum() -> None:
    log_probs = log_softmax(np.random.default_rng(4).normal(size=(7, 5)))
    assert ctc_log_likelihood(log_probs, [], blank=2) == pytest.approx(log_probs[:, 2].sum())
    assert ctc_log_likelihood(np.zeros((0, 5)), [], blank=2) == 0.0
    assert ctc_log_likelihood(np.zeros((0, 5)), [1], blank=2) == -math.inf


def test_ctc_single_label_single_frame() -> None:
    log_probs = np.log(np.array([[0.25, 0.75]]))
    assert ctc_log_likelihood(log_probs, [1], blank=0) == pytest.approx(math.log(0.75))
    assert ctc_log_likelihood(log_probs, [1, 1], blank=0) == -math.inf


@pytest.mark.parametrize(
    ("log_probs", "target", "blank", "match"),
    [
        (np.zeros((3, 4, 1)), [1], 0, "frames, vocabulary"),
        (np.full((3, 4), np.nan), [1], 0, "NaN"),
        (np.zeros((3, 4)), [1], 4, "blank id"),
        (np.zeros((3, 4)), [0, 1], 0, "blank id 0"),
        (np.zeros((3, 4)), [1, 9], 0, "outside the vocabulary"),
        (np.zeros((3, 4)), [1.5], 0, "integer"),
    ],
)
def test_ctc_rejects_bad_input(log_probs, target, blank, match) -> None:
    with pytest.raises(ValueError, match=match):
        ctc_log_likelihood(log_probs, target, blank)


def test_class_log_likelihoods_and_posteriors() -> None:
    rng = np.random.default_rng(5)
    log_probs = log_softmax(rng.normal(size=(12, 6)))
    targets = [[1, 2, 3], [4, 5], [2, 2], [1, 1, 1, 1, 1, 1, 1]]
    scores = class_log_likelihoods(log_probs, targets, blank=0)
    assert scores.shape == (4,) and scores.dtype == np.float64
    for score, target in zip(scores, targets):
        assert score == ctc_log_likelihood(log_probs, target, blank=0)
    posteriors = posteriors_from_log_likelihoods(scores)
    assert posteriors.sum() == pytest.approx(1.0)
    assert int(np.argmax(posteriors)) == int(np.argmax(scores))
    expected = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    np.testing.assert_allclose(posteriors, expected, rtol=1e-12)


def test_posteriors_when_some_or_all_targets_impossible() -> None:
    log_probs = log_softmax(np.random.default_rng(6).normal(size=(2, 4)))
    mixed = posteriors_from_log_likelihoods(class_log_likelihoods(log_probs, [[1, 2, 3], [1]], blank=0))
    np.testing.assert_allclose(mixed, [0.0, 1.0])
    none_fit = posteriors_from_log_likelihoods(class_log_likelihoods(log_probs, [[1, 2, 3], [1, 1, 1]], blank=0))
    np.testing.assert_allclose(none_fit, [0.5, 0.5])
    assert posteriors_from_log_likelihoods(np.array([-1e6, -1e6 - math.log(3)])).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one class"):
        class_log_likelihoods(log_probs, [], blank=0)


def test_log_softmax_is_stable_and_normalised() -> None:
    logits = np.array([[1000.0, 1001.0, 999.0], [-1e4, 0.0, 3.0], [-np.inf, 0.0, 0.0]])
    out = log_softmax(logits)
    assert np.isfinite(out[:2]).all()
    np.testing.assert_allclose(np.exp(out).sum(axis=-1), 1.0)
    np.testing.assert_allclose(out[0], [-1.4076059644443801, -0.4076059644443803, -2.40760596444438])
    assert out[2, 0] == -np.inf
    assert np.isneginf(log_softmax(np.full((1, 3), -np.inf))).all()
    assert log_softmax(np.zeros((2, 3), dtype=np.float32)).dtype == np.float32
    np.testing.assert_allclose(np.exp(log_softmax(logits[:2], axis=0)).sum(axis=0), 1.0)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("", "abc", 3),
        ("abc", "", 3),
        ("", "", 0),
        ("same", "same", 0),
        (["z", "ih", "r", "ow"], ["z", "ih", "r", "ow"], 0),
        (["z", "ih", "r", "ow"], ["th", "r", "iy"], 3),
        (["w", "ah", "n"], ["t", "uw"], 3),
    ],
)
def test_edit_distance_known(a, b, distance) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_edit_distance_matches_jiwer_counts() -> None:
    jiwer = pytest.importorskip("jiwer")
    rng = np.random.default_rng(7)
    alphabet = ["z", "ih", "r", "ow", "w", "ah", "n", "t", "uw", "th", "iy"]
    for _ in range(200):
        a = list(rng.choice(alphabet, size=int(rng.integers(1, 9))))
        b = list(rng.choice(alphabet, size=int(rng.integers(0, 9))))
        out = jiwer.process_words(" ".join(a), " ".join(b) if b else "")
        assert edit_distance(a, b) == out.substitutions + out.deletions + out.insertions


def test_nearest_class_and_ties() -> None:
    classes = [["z", "ih", "r", "ow"], ["w", "ah", "n"], ["t", "uw"], ["th", "r", "iy"]]
    assert nearest_class(["t", "uw"], classes) == 2
    assert nearest_class(["w", "ah"], classes) == 1
    assert nearest_class(["a"], [["b"], ["c"]]) == 0  # tie: lowest index
    assert nearest_class(["a"], [["x", "y"], ["a", "b"], ["a", "c"]]) == 1
    assert nearest_class([], [["a", "b"], ["c"]]) == 1
    with pytest.raises(ValueError, match="at least one class"):
        nearest_class(["a"], [])


@pytest.mark.parametrize("seed", range(10))
def test_class_likelihoods_in_one_pass_equal_each_alone(seed: int) -> None:
    from phonedge import lattice

    rng = np.random.default_rng(100 + seed)
    for _ in range(50):
        frames, vocab = int(rng.integers(1, 25)), int(rng.integers(2, 7))
        log_probs = log_softmax(rng.normal(size=(frames, vocab)) * rng.uniform(0.1, 5))
        targets = [rng.integers(1, vocab, size=int(rng.integers(0, 8))) for _ in range(int(rng.integers(1, 5)))]
        many = class_log_likelihoods(log_probs, targets, blank=0)
        for got, target in zip(many, targets):
            alone = lattice.forward(log_probs, lattice.build(target[None, :], 0))[0] if target.size else \
                log_probs[:, 0].sum()
            if np.isneginf(alone):
                assert np.isneginf(got)
            else:
                assert got == pytest.approx(alone, abs=1e-10)
