"""Class decisions from model output: exact CTC likelihood per class, or the nearest transcript."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from . import lattice
from .errors import InvalidInputError


# Rows exponentiated at a time in log_softmax: bounds its temporary to a block, not a second (T, V) array.
_EXP_ROWS = 4096


def log_softmax(logits: NDArray[np.floating], axis: int = -1) -> NDArray[np.floating]:
    """Stable log-softmax along ``axis``; float inputs keep their dtype, all -inf rows stay -inf."""
    x = np.asarray(logits)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0).astype(x.dtype)
    out = x - peak
    with np.errstate(divide="ignore"):
        if out.ndim > 1 and axis % out.ndim != 0:
            total = np.concatenate([np.log(np.sum(np.exp(out[i : i + _EXP_ROWS]), axis=axis, keepdims=True))
                                    for i in range(0, len(out), _EXP_ROWS)] or [peak[:0]], axis=0)
        else:
            total = np.log(np.sum(np.exp(out), axis=axis, keepdims=True))
    out -= np.where(np.isfinite(total), total, 0.0).astype(x.dtype)
    return out


def ctc_log_likelihood(log_probs: NDArray[np.floating], target: Sequence[int], blank: int) -> float:
    """Exact log p(target | frames) by the CTC forward algorithm; -inf when the target cannot fit.

    Args:
        log_probs: (T, V) per-frame log-probabilities (apply ``log_softmax`` to raw logits first).
        target: label ids, none of them ``blank``; may be empty.
        blank: the blank id.

    Returns:
        The log-likelihood, as a Python float; ``-inf`` when T is shorter than the target plus
        one frame per adjacent repeat; the sum of the blank log-probabilities for an empty target.

    Raises:
        InvalidInputError (a ValueError): log_probs is not 2-D or holds NaN/+inf, blank or a label is out of range,
            or the target holds the blank.
    """
    lp = _check_log_probs(log_probs)
    _check_blank(blank, lp.shape[1])
    return _forward(lp, _check_target(target, lp.shape[1], blank), blank)


def class_log_likelihoods(
    log_probs: NDArray[np.floating], targets: Sequence[Sequence[int]], blank: int
) -> NDArray[np.float64]:
    """CTC log-likelihood of each class's target, as a (C,) float64 array (-inf where a target cannot fit)."""
    lp = _check_log_probs(log_probs)
    _check_blank(blank, lp.shape[1])
    if len(targets) == 0:
        raise InvalidInputError("targets is empty: give at least one class target")
    checked = [_check_target(target, lp.shape[1], blank) for target in targets]
    return lattice.forward_many(lp, checked, blank)


def posteriors_from_log_likelihoods(log_likelihoods: NDArray[np.floating]) -> NDArray[np.float64]:
    """Softmax over a (C,) vector of class log-likelihoods; uniform when all are -inf."""
    scores = np.asarray(log_likelihoods, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise InvalidInputError(f"expected a non-empty 1-D vector of log-likelihoods, got shape {scores.shape}")
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise InvalidInputError("log-likelihoods must not hold NaN or +inf")
    if np.isneginf(scores).all():
        return np.full(scores.shape, 1.0 / scores.size)
    return np.exp(log_softmax(scores))


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two unit sequences (unit cost for substitution, insertion, deletion)."""
    codes: dict[str, int] = {}
    left = np.array([codes.setdefault(unit, len(codes)) for unit in a], dtype=np.int64)
    right = np.array([codes.setdefault(unit, len(codes)) for unit in b], dtype=np.int64)
    columns = np.arange(len(right) + 1, dtype=np.int64)
    row = columns.copy()
    for i, unit in enumerate(left, start=1):
        diagonal = row[:-1] + (right != unit)
        from_above = row[1:] + 1
        candidate = np.concatenate(([i], np.minimum(diagonal, from_above)))
        # An insertion chain along the row is a running minimum of (cost - column) plus column.
        row = np.minimum.accumulate(candidate - columns) + columns
    return int(row[-1])


def nearest_class(units: Sequence[str], class_units: Sequence[Sequence[str]]) -> int:
    """Index of the class transcript closest to ``units`` by edit distance; ties go to the lowest index."""
    if len(class_units) == 0:
        raise InvalidInputError("class_units is empty: give at least one class transcript")
    distances = [edit_distance(units, candidate) for candidate in class_units]
    return int(np.argmin(distances))


def _check_log_probs(log_probs: NDArray[np.floating]) -> NDArray[np.floating]:
    """Return log_probs as a (T, V) float array (float32 stays float32: no copy), or raise InvalidInputError."""
    lp = np.asarray(log_probs)
    if not np.issubdtype(lp.dtype, np.floating):
        lp = lp.astype(np.float64)
    if lp.ndim != 2 or lp.shape[1] == 0:
        raise InvalidInputError(f"log_probs must be a (frames, vocabulary) array, got shape {lp.shape}")
    # The maximum is NaN if any value is, and +inf if any value is: one pass, no (T, V) temporaries.
    if lp.size and not lp.max() < np.inf:
        raise InvalidInputError("log_probs holds NaN or +inf; pass log_softmax(logits) of finite logits")
    return lp


def _check_blank(blank: int, vocab_size: int) -> None:
    """Raise InvalidInputError unless blank is a valid id."""
    if not 0 <= int(blank) < vocab_size:
        raise InvalidInputError(f"blank id {blank} is outside the vocabulary of {vocab_size}")


def _check_target(target: Sequence[int], vocab_size: int, blank: int) -> NDArray[np.int64]:
    """Return target as a 1-D int64 array of valid non-blank ids, or raise InvalidInputError."""
    raw = np.asarray(target)
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    if raw.ndim != 1 or not np.issubdtype(raw.dtype, np.integer):
        raise InvalidInputError(f"a target must be a flat sequence of integer label ids, got {target!r}")
    ids = raw.astype(np.int64)
    if ((ids < 0) | (ids >= vocab_size)).any():
        raise InvalidInputError(f"target {ids.tolist()} holds ids outside the vocabulary of {vocab_size}")
    if (ids == blank).any():
        raise InvalidInputError(f"target {ids.tolist()} holds the blank id {blank}; targets are labels only")
    return ids


def _forward(lp: NDArray[np.floating], target: NDArray[np.int64], blank: int) -> float:
    """The CTC forward recursion (one implementation, in phonedge.lattice) for one checked target."""
    if lp.shape[0] < lattice.min_frames(target):
        return float("-inf")
    return float(lattice.forward_many(lp, [target], blank)[0])
