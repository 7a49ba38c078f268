"""CTC path math over a blank-interleaved label lattice: the forward (sum) and Viterbi (best path) recursions.

A target ``l1 .. lL`` becomes the states ``blank l1 blank l2 .. lL blank``; a path stays in a state,
steps to the next one, or skips a blank between two different labels. A *star* state before or
after the target (optional) stands for extra speech: it reads an extra column of the emissions
(see :func:`with_star_column`) and may be entered or left like a label. The class decision
(``scoring``), the forced alignment and the pronunciation scores all run on these two recursions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Lattice:
    """A batch of B lattices of S states each: the emission column of every state and where paths may go."""

    columns: NDArray[np.int64]  # (B, S): the column of log_probs each state reads
    can_skip: NDArray[np.bool_]  # (B, S): a path may enter the state from two states back
    first: int  # a path starts in one of the first FIRST states
    last: int  # and ends in one of the last LAST states


def min_frames(target: NDArray[np.int64]) -> int:
    """Fewest frames a CTC path for target needs: one per label plus a blank between repeats."""
    return int(target.size + np.count_nonzero(target[1:] == target[:-1]))


def build(targets: NDArray[np.int64], blank: int, star: int | None = None) -> Lattice:
    """The lattices of a (B, L) batch of equally long targets; with STAR (a column id), star states at both ends."""
    targets = np.atleast_2d(np.asarray(targets, dtype=np.int64))
    batch, length = targets.shape
    columns = np.full((batch, 2 * length + 1), blank, dtype=np.int64)
    columns[:, 1::2] = targets
    can_skip = np.zeros(columns.shape, dtype=bool)
    # A path may jump over a blank only between two different labels.
    can_skip[:, 3::2] = targets[:, 1:] != targets[:, :-1]
    first, last = min(2, columns.shape[1]), min(2, columns.shape[1])
    if star is not None:
        edge = np.full((batch, 1), star, dtype=np.int64)
        columns = np.concatenate([edge, columns, edge], axis=1)
        # star -> first label skips the leading blank; last label -> star skips the trailing one.
        reach = np.ones((batch, 1), dtype=bool)
        can_skip = np.concatenate([np.zeros((batch, 1), dtype=bool), can_skip, reach], axis=1)
        can_skip[:, 2] = length > 0
        first, last = min(3, columns.shape[1]), min(3, columns.shape[1])
    return Lattice(columns, can_skip, first, last)


def with_star_column(log_probs: NDArray[np.float64], penalty: float) -> NDArray[np.float64]:
    """LOG_PROBS with one more column for star states: the frame's best log-probability minus PENALTY."""
    star = log_probs.max(axis=1, keepdims=True) - float(penalty)
    return np.concatenate([log_probs, star], axis=1)


def _alphas(
    log_probs: NDArray[np.floating], lattice: Lattice, blocked: NDArray[np.bool_] | None = None
) -> Iterator[NDArray[np.float64]]:
    """The forward variables (B, S) of every frame in turn, in log space; BLOCKED states (B, S) emit -inf."""
    columns, can_skip = lattice.columns, lattice.can_skip

    def emit(frame: NDArray[np.floating]) -> NDArray[np.floating]:
        values = frame[columns]
        return values if blocked is None else np.where(blocked, -np.inf, values)

    alpha = np.full(columns.shape, -np.inf)
    alpha[:, : lattice.first] = emit(log_probs[0])[:, : lattice.first]
    yield alpha
    skip = np.full_like(alpha, -np.inf)
    for frame in log_probs[1:]:
        stay_or_step = np.empty_like(alpha)
        stay_or_step[:, 0] = alpha[:, 0]
        np.logaddexp(alpha[:, 1:], alpha[:, :-1], out=stay_or_step[:, 1:])
        skip[:, 2:] = np.where(can_skip[:, 2:], alpha[:, :-2], -np.inf)
        alpha = np.logaddexp(stay_or_step, skip) + emit(frame)
        yield alpha


def forward(log_probs: NDArray[np.float64], lattice: Lattice) -> NDArray[np.float64]:
    """Log of the summed probability of every path through each lattice, (B,); -inf where none fits."""
    batch, states = lattice.columns.shape
    if log_probs.shape[0] == 0:
        return np.full(batch, -np.inf)
    alpha = deque(_alphas(log_probs, lattice), maxlen=1)[0]  # the last frame's, keeping no others
    return logsumexp(alpha[:, states - lattice.last :], axis=1)


def forward_many(
    log_probs: NDArray[np.floating], targets: Sequence[NDArray[np.int64]], blank: int
) -> NDArray[np.float64]:
    """The forward log-likelihood of each of TARGETS, of any lengths, in one pass over the frames, (B,).

    Shorter lattices are padded at their end with blocked states that emit -inf, so no path enters
    them and every real state's recursion is exactly the one :func:`forward` runs alone; LOG_PROBS
    is read as it is (float32 stays float32), never copied.
    """
    lengths = np.array([t.size for t in targets], dtype=np.int64)
    states = 2 * int(lengths.max(initial=0)) + 1
    columns = np.full((len(targets), states), blank, dtype=np.int64)
    blocked = np.ones(columns.shape, dtype=bool)
    can_skip = np.zeros(columns.shape, dtype=bool)
    for row, target in enumerate(targets):
        blocked[row, : 2 * target.size + 1] = False
        columns[row, 1 : 2 * target.size : 2] = target
        can_skip[row, 3 : 2 * target.size : 2] = target[1:] != target[:-1]
    if log_probs.shape[0] == 0:  # no frames: only the empty target, with probability one
        return np.where(lengths == 0, 0.0, -np.inf)
    lattice = Lattice(columns, can_skip, min(2, states), 1)
    alpha = deque(_alphas(log_probs, lattice, blocked if blocked.any() else None), maxlen=1)[0]
    rows = np.arange(len(targets))
    ends = 2 * lengths
    return np.where(lengths > 0, np.logaddexp(alpha[rows, ends], alpha[rows, np.maximum(ends - 1, 0)]),
                    alpha[rows, ends])


def forward_table(log_probs: NDArray[np.float64], lattice: Lattice) -> NDArray[np.float64]:
    """Every frame's forward variables of one lattice, (T, S): log p(frames 0..t, in state s at t)."""
    states = lattice.columns.shape[1]
    table = np.full((log_probs.shape[0], states), -np.inf)
    for t, alpha in enumerate(_alphas(log_probs, lattice) if len(log_probs) else ()):
        table[t] = alpha[0]
    return table


def backward_table(log_probs: NDArray[np.float64], lattice: Lattice) -> NDArray[np.float64]:
    """Every frame's backward variables of one lattice, (T, S): log p(frames t..T-1 | in state s at t).

    A lattice read backwards is a lattice (skips are symmetric, and the first and last states
    swap), so this is the forward recursion over the reversed frames and states.
    """
    reverse = Lattice(lattice.columns[:, ::-1], _reverse_skips(lattice.can_skip), lattice.last, lattice.first)
    return forward_table(log_probs[::-1], reverse)[::-1, ::-1]


def logsumexp(values: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    """log(sum(exp(values))) along AXIS; -inf where every value is -inf."""
    peak = values.max(axis=axis, keepdims=True, initial=-np.inf)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(np.log(np.exp(values - safe).sum(axis=axis, keepdims=True)) + safe, axis=axis)


def _reverse_skips(can_skip: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Skip flags of the reversed lattice: a skip into s from s-2 is a skip from s into s-2 read backwards."""
    reverse = np.zeros_like(can_skip)
    reverse[:, 2:] = can_skip[:, ::-1][:, :-2]
    return reverse


def viterbi(
    log_probs: NDArray[np.float64], lattice: Lattice, max_back_bytes: int = 1 << 26
) -> tuple[float, NDArray[np.int64]]:
    """The best path through one lattice: its log-probability and its state at every frame.

    Ties go to staying, then stepping, then skipping, and to the last end state. Returns
    ``(-inf, empty)`` when no path fits. Back-pointers take one byte per frame and state; past
    MAX_BACK_BYTES the search keeps the scores of every K-th frame only (K about the square root
    of the frames) and recomputes one stretch of K frames at a time while tracing back: the same
    path, in memory of order sqrt(frames) x states, for twice the time.
    """
    columns, can_skip = lattice.columns[0], lattice.can_skip[0]
    states = columns.size
    frames = log_probs.shape[0]
    if frames == 0:
        return float("-inf"), np.zeros(0, dtype=np.int64)
    every = frames if frames * states <= max_back_bytes else max(2, int(np.ceil(np.sqrt(frames))))
    delta = np.full(states, -np.inf)
    delta[: lattice.first] = log_probs[0][columns[: lattice.first]]
    saved = {0: delta}  # the scores at frames 0, K, 2K, ...
    for t in range(1, frames):
        delta, _ = _best_step(delta, log_probs[t][columns], can_skip)
        if t % every == 0:
            saved[t] = delta
    tail = delta[states - lattice.last :]
    end = states - lattice.last + int(tail.size - 1 - np.argmax(tail[::-1]))
    score = float(delta[end])
    if not np.isfinite(score):
        return float("-inf"), np.zeros(0, dtype=np.int64)
    path = np.empty(frames, dtype=np.int64)
    path[-1] = end
    stop = frames - 1
    for start in sorted(saved, reverse=True):
        if start >= stop:
            continue
        # Recompute frames start+1 .. stop from the saved scores, keeping their back-pointers.
        back = np.empty((stop - start, states), dtype=np.int8)
        delta = saved[start]
        for t in range(start + 1, stop + 1):
            delta, back[t - start - 1] = _best_step(delta, log_probs[t][columns], can_skip)
        for t in range(stop, start, -1):
            path[t - 1] = path[t] - back[t - start - 1, path[t]]
        stop = start
    return score, path


def _best_step(
    delta: NDArray[np.float64], emissions: NDArray[np.float64], can_skip: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """One frame of the Viterbi recursion: the new scores and each state's move (0 stay, 1 step, 2 skip)."""
    step = np.empty_like(delta)
    step[0] = -np.inf
    step[1:] = delta[:-1]
    skip = np.full_like(delta, -np.inf)
    skip[2:] = np.where(can_skip[2:], delta[:-2], -np.inf)
    # Strict comparisons keep the tie order: stay, then step, then skip.
    choice = (step > delta).astype(np.int8)
    best = np.maximum(delta, step)
    jump = skip > best
    choice[jump] = 2
    return np.where(jump, skip, best) + emissions, choice
