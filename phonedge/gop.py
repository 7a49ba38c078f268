"""Goodness of pronunciation without a fixed segmentation (GOP-SF): each transcript position against its rivals.

For position i of a transcript, the rivals are every transcript that differs from it only there:
the unit replaced by each candidate unit, or deleted. The score is the log-posterior of the
canonical transcript among them, ``log p(L) - log sum p(L')`` (the canonical one is among the
L', so it is at most 0), with every p an exact CTC likelihood summed over all alignments, after
Cao et al., "A framework for phoneme-level pronunciation assessment using CTC" (Interspeech 2024).
One forward and one backward table of the canonical lattice give every rival's likelihood: a
rival differs in one state only, so it is the canonical prefix, that state's own run, and the
canonical suffix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import lattice

DELETED = -1  # the rival "no unit here" in PositionScores.best


@dataclass(frozen=True)
class PositionScores:
    """Per position: the canonical unit's log-posterior among its rivals, and the rival the model likes best."""

    log_posterior: NDArray[np.float64]  # (L,), each <= 0
    best: NDArray[np.int64]  # (L,): the preferred unit id, or DELETED
    log_likelihood: float  # log p(transcript | frames), summed over every alignment


def position_scores(
    log_probs: NDArray[np.float64],
    target: NDArray[np.int64],
    blank: int,
    candidates: NDArray[np.int64],
    star: int | None = None,
) -> PositionScores:
    """GOP-SF of every position of TARGET (non-empty, fits the frames) against CANDIDATES and deletion.

    ``star`` is the star column of ``log_probs`` when the lattice has star states (see lattice.build).
    """
    target = np.asarray(target, dtype=np.int64)
    units = np.union1d(np.asarray(candidates, dtype=np.int64), target)
    grid = lattice.build(target[None, :], blank, star)
    alpha = lattice.forward_table(log_probs, grid)
    beta = lattice.backward_table(log_probs, grid)
    columns = grid.columns[0]
    states = columns.size
    total = float(lattice.logsumexp(alpha[-1, states - grid.last :], axis=0))
    label_states = (1 if star is not None else 0) + 2 * np.arange(target.size) + 1
    rivals = np.concatenate([_substitutions(log_probs, alpha, beta, grid, label_states, units),
                             _deletions(alpha, beta, grid, label_states)[:, None]], axis=1)
    choice = rivals.argmax(axis=1)
    best = np.where(choice == units.size, DELETED, units[np.minimum(choice, units.size - 1)])
    posterior = np.minimum(total - lattice.logsumexp(rivals, axis=1), 0.0)
    return PositionScores(posterior, best.astype(np.int64), total)


def _substitutions(
    log_probs: NDArray[np.float64],
    alpha: NDArray[np.float64],
    beta: NDArray[np.float64],
    grid: lattice.Lattice,
    k: NDArray[np.int64],
    units: NDArray[np.int64],
) -> NDArray[np.float64]:
    """log p of the transcript with the label at state k replaced by each unit, (L, U)."""
    columns = grid.columns[0]
    states, frames = columns.size, log_probs.shape[0]
    before, after = np.maximum(k - 2, 0), np.minimum(k + 2, states - 1)
    # A path may skip the blank into or out of the replaced state unless the neighbour is the same unit.
    skip_in = (k >= 2)[:, None] & (columns[before][:, None] != units[None, :])
    skip_out = (k + 2 < states)[:, None] & (columns[after][:, None] != units[None, :])
    emissions = log_probs[:, units]
    run = np.where((k < grid.first)[:, None], emissions[0][None, :], -np.inf)  # paths in state k at frame t
    total = np.full(run.shape, -np.inf)
    ends = np.where((k >= states - grid.last)[:, None], 0.0, -np.inf)
    for t in range(frames):
        if t > 0:
            from_before = np.where(skip_in, alpha[t - 1, before][:, None], -np.inf)
            enter = np.logaddexp(alpha[t - 1, k - 1][:, None], from_before)
            run = np.logaddexp(run, enter) + emissions[t][None, :]
        if t + 1 < frames:
            leave = np.logaddexp(beta[t + 1, k + 1][:, None], np.where(skip_out, beta[t + 1, after][:, None], -np.inf))
        else:
            leave = ends
        total = np.logaddexp(total, run + leave)
    return total


def _deletions(
    alpha: NDArray[np.float64], beta: NDArray[np.float64], grid: lattice.Lattice, k: NDArray[np.int64]
) -> NDArray[np.float64]:
    """log p of the transcript without the label at state k, (L,): its two blanks merge into one."""
    columns = grid.columns[0]
    states = columns.size
    short = states - 2  # the states of the shorter lattice
    first, last = min(grid.first, short), min(grid.last, short)
    out = np.full(k.size, -np.inf)
    for i, s in enumerate(k):
        parts = []
        if s + 2 < states:
            # Leave the merged blank (s - 1) for the state after the deleted one (s + 2) ...
            parts.append(lattice.logsumexp(alpha[:-1, s - 1] + beta[1:, s + 2], axis=0))
            # ... or jump there straight from the state before (s - 2) when they differ ...
            if s >= 2 and columns[s - 2] != columns[s + 2]:
                parts.append(lattice.logsumexp(alpha[:-1, s - 2] + beta[1:, s + 2], axis=0))
            # ... or start there (in the shorter lattice it is state s).
            if s < first:
                parts.append(beta[0, s + 2])
        if s - 1 >= short - last:  # end in the merged blank
            parts.append(alpha[-1, s - 1])
        if s >= 2 and s - 2 >= short - last:  # end in the state before
            parts.append(alpha[-1, s - 2])
        if parts:
            out[i] = float(lattice.logsumexp(np.array(parts, dtype=np.float64), axis=0))
    return out
