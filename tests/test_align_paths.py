"""CTC path math for alignment: Viterbi vs exhaustive search, forward vs torch, GOP-SF vs each rival's forward."""

from __future__ import annotations

import numpy as np
import pytest

from phonedge import gop, lattice
from phonedge.scoring import log_softmax

MAX_PATHS = 600_000  # labelings an exhaustive case may enumerate


def _labelings(tokens: list[int], frames: int) -> np.ndarray:
    """Every sequence of FRAMES tokens drawn from TOKENS, (N, FRAMES)."""
    index = np.indices((len(tokens),) * frames, dtype=np.int8).reshape(frames, -1).T
    return np.asarray(tokens, dtype=np.int64)[index]


def _valid(paths: np.ndarray, target: np.ndarray, blank: int, star: int | None) -> np.ndarray:
    """Which frame labelings collapse to TARGET (star frames allowed only before and after it)."""
    is_star = paths == star if star is not None else np.zeros(paths.shape, dtype=bool)
    before = np.cumprod(is_star, axis=1).astype(bool)
    after = np.cumprod(is_star[:, ::-1], axis=1)[:, ::-1].astype(bool)
    middle = ~before & ~after
    ok = ~(is_star & middle).any(axis=1)
    previous = np.concatenate([np.full((len(paths), 1), -2), paths[:, :-1]], axis=1)
    keep = middle & (paths != blank) & (paths != previous)
    ok &= keep.sum(axis=1) == target.size
    position = np.clip(np.cumsum(keep, axis=1) - 1, 0, max(target.size - 1, 0))
    ok &= ~(keep & (paths != target[position])).any(axis=1)
    return ok


def _case(rng: np.random.Generator, frames: int, star: bool, exhaustive: bool = True):
    """Random log-probs of FRAMES frames, a fitting target of 1-3 labels (repeats likely) and a blank.

    With EXHAUSTIVE, the target uses few enough distinct labels to enumerate every labeling.
    """
    vocab = int(rng.integers(2, 5))
    blank = int(rng.integers(0, vocab))
    labels = [v for v in range(vocab) if v != blank]
    while True:
        length = int(rng.integers(1, 4))
        target = np.array([rng.choice(labels) for _ in range(length)], dtype=np.int64)
        if length >= 2 and rng.random() < 0.4:
            target[1] = target[0]
        allowed = 1 + np.unique(target).size + int(star)
        if lattice.min_frames(target) <= frames and (not exhaustive or allowed ** frames <= MAX_PATHS):
            break
    lp = log_softmax(rng.normal(scale=2.0, size=(frames, vocab)))
    return lp, target, blank


@pytest.mark.parametrize("star", [False, True])
@pytest.mark.parametrize("frames", range(1, 13))
def test_viterbi_is_the_exhaustive_best_path(frames: int, star: bool) -> None:
    rng = np.random.default_rng(100 * frames + star)
    for _ in range(6):
        lp, target, blank = _case(rng, frames, star)
        star_column = lp.shape[1] if star else None
        if star:
            lp = lattice.with_star_column(lp, 1.0)
        score, path = lattice.viterbi(lp, lattice.build(target[None, :], blank, star_column))
        tokens = sorted({blank, *target.tolist(), *([star_column] if star else [])})
        paths = _labelings(tokens, frames)
        valid = _valid(paths, target, blank, star_column)
        totals = lp[np.arange(frames), paths].sum(axis=1)
        best = int(np.argmax(np.where(valid, totals, -np.inf)))
        columns = lattice.build(target[None, :], blank, star_column).columns[0]
        assert score == pytest.approx(totals[best], abs=1e-9)
        assert columns[path].tolist() == paths[best].tolist()
        assert np.all(np.diff(path) >= 0) and np.all(np.diff(path) <= 2)


def test_viterbi_of_a_target_that_cannot_fit_is_minus_inf() -> None:
    lp = log_softmax(np.zeros((2, 3)))
    score, path = lattice.viterbi(lp, lattice.build(np.array([[1, 1]]), 0))
    assert score == -np.inf and path.size == 0


def _torch_log_likelihoods(lp: np.ndarray, targets: np.ndarray, blank: int) -> np.ndarray:
    torch = pytest.importorskip("torch")
    batch = targets.shape[0]
    loss = torch.nn.functional.ctc_loss(
        torch.from_numpy(lp).double().unsqueeze(1).expand(-1, batch, -1),
        torch.from_numpy(targets),
        input_lengths=torch.full((batch,), lp.shape[0], dtype=torch.long),
        target_lengths=torch.full((batch,), targets.shape[1], dtype=torch.long),
        blank=blank,
        reduction="none",
        zero_infinity=False,
    )
    return -loss.numpy()


def test_batched_forward_equals_torch_ctc_loss() -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        vocab = int(rng.integers(3, 9))
        blank = int(rng.integers(0, vocab))
        labels = [v for v in range(vocab) if v != blank]
        length, batch = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        targets = rng.choice(labels, size=(batch, length)).astype(np.int64)
        frames = int(rng.integers(length, 3 * length + 8))
        lp = log_softmax(rng.normal(scale=3.0, size=(frames, vocab)))
        ours = lattice.forward(lp, lattice.build(targets, blank))
        theirs = _torch_log_likelihoods(lp, targets, blank)
        fits = np.isfinite(theirs)
        assert np.allclose(ours[fits], theirs[fits], atol=1e-6)
        assert np.all(np.isneginf(ours[~fits]))


def _lattice_case(rng: np.random.Generator, frames: int, star: bool, penalty: float):
    """A random case (see _case) with its star column added when STAR, and the lattice of its target."""
    lp, target, blank = _case(rng, frames, star, exhaustive=False)
    star_column = lp.shape[1] if star else None
    if star:
        lp = lattice.with_star_column(lp, penalty)
    return lp, lattice.build(target[None, :], blank, star_column)


@pytest.mark.parametrize("star", [False, True])
def test_forward_and_backward_tables_agree_at_every_frame(star: bool) -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        lp, grid = _lattice_case(rng, int(rng.integers(4, 15)), star, 0.5)
        total = lattice.forward(lp, grid)[0]
        alpha, beta = lattice.forward_table(lp, grid), lattice.backward_table(lp, grid)
        emitted = lp[:, grid.columns[0]]
        per_frame = lattice.logsumexp(alpha + beta - emitted, axis=1)
        assert np.allclose(per_frame, total, atol=1e-9)


@pytest.mark.parametrize("star", [False, True])
def test_gop_rivals_equal_their_own_forward(star: bool) -> None:
    rng = np.random.default_rng(11 + star)
    for _ in range(80):
        vocab = int(rng.integers(3, 6))
        blank = int(rng.integers(0, vocab))
        labels = [v for v in range(vocab) if v != blank]
        target = np.array([rng.choice(labels) for _ in range(int(rng.integers(1, 5)))], dtype=np.int64)
        if target.size >= 2 and rng.random() < 0.4:
            target[1] = target[0]
        lp = log_softmax(rng.normal(scale=2.0, size=(lattice.min_frames(target) + int(rng.integers(0, 6)), vocab)))
        star_column = vocab if star else None
        if star:
            lp = lattice.with_star_column(lp, 1.0)

        def likelihood(units: np.ndarray, lp=lp, blank=blank, star_column=star_column) -> float:
            return float(lattice.forward(lp, lattice.build(units.reshape(1, -1), blank, star_column))[0])

        scores = gop.position_scores(lp, target, blank, np.array(labels), star_column)
        canonical = likelihood(target)
        assert scores.log_likelihood == pytest.approx(canonical, abs=1e-9)
        for i in range(target.size):
            rivals = [likelihood(np.concatenate([target[:i], [u], target[i + 1 :]])) for u in labels]
            rivals.append(likelihood(np.delete(target, i)))
            expected = canonical - np.logaddexp.reduce(rivals)
            assert scores.log_posterior[i] == pytest.approx(min(expected, 0.0), abs=1e-8)
            best = int(np.argmax(rivals))
            assert scores.best[i] == (gop.DELETED if best == len(labels) else labels[best])


@pytest.mark.parametrize("star", [False, True])
def test_checkpointed_viterbi_finds_the_same_path(star: bool) -> None:
    rng = np.random.default_rng(21 + star)
    for _ in range(30):
        lp, grid = _lattice_case(rng, int(rng.integers(1, 60)), star, 1.0)
        full = lattice.viterbi(lp, grid)
        low = lattice.viterbi(lp, grid, max_back_bytes=1)
        assert low[0] == full[0] and low[1].tolist() == full[1].tolist()
