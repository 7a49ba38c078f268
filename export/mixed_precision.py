"""Keep the fewest MatMuls in float that let a quantized graph pass the parity gate.

The candidates come ranked by their measured quantization error (``smoothquant.analyse``). The
search re-quantizes the float graph with the first k of them excluded: k = 0, 1, 2, 4, … until
the gate passes, then bisects between the last failing and the first passing k, within a budget of
attempts (each one quantizes and runs the parity check again). The graph left at the bundle's path
is the one with the fewest float MatMuls that passed; when none passed, the last attempt's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

DEFAULT_MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Attempt:
    """One quantization of the graph and its parity verdict."""

    float_nodes: tuple[str, ...]
    quantization: dict[str, Any]
    parity: dict[str, Any]
    failures: list[str]

    @property
    def passed(self) -> bool:
        """Whether the parity gate's thresholds were met."""
        return not self.failures

    def summary(self) -> dict[str, Any]:
        """The manifest's one-line account of this attempt."""
        return {
            "float_matmuls": len(self.float_nodes),
            "passed": self.passed,
            "frame_argmax_agreement": self.parity.get("frame_argmax_agreement"),
            "transcript_agreement": self.parity.get("transcript_agreement"),
        }


Quantizer = Callable[[Sequence[str]], Attempt]


def fewest_float(
    attempt: Quantizer,
    ranking: Sequence[str],
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    say: Callable[[str], None] = lambda _message: None,
) -> tuple[Attempt, list[Attempt]]:
    """Run ATTEMPT with ever more of RANKING kept in float; return the chosen attempt and all attempts made.

    The graph of the chosen attempt is the last one written (the search re-runs it when needed).
    """
    tried: list[Attempt] = [attempt(())]
    if tried[0].passed or not ranking:
        return tried[0], tried
    failing, passing, k = 0, None, 1
    while len(tried) < max_attempts:
        say(f"parity gate missed; keeping the {k} MatMul(s) with the largest int error in float")
        tried.append(attempt(tuple(ranking[:k])))
        if tried[-1].passed:
            passing = k
            break
        failing = k
        if k == len(ranking):
            break
        k = min(2 * k, len(ranking))
    if passing is None:
        return tried[-1], tried
    best = tried[-1]
    while passing - failing > 1 and len(tried) < max_attempts:
        middle = (failing + passing) // 2
        say(f"trying {middle} float MatMul(s)")
        tried.append(attempt(tuple(ranking[:middle])))
        if tried[-1].passed:
            passing, best = middle, tried[-1]
        else:
            failing = middle
    if tried[-1] is not best:
        best = attempt(best.float_nodes)  # leave the chosen graph on disk
    return best, tried
