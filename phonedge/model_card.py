"""The model card's figures as text: the one renderer behind ``phonedge eval``, the benchmark report and
reference/MODEL_CARD.md.

A card is the per-class Precision / Recall / F1-score / Support table with its Macro and Weighted
averages, then Accuracy, Wer and Cer, then the confusion matrix ("Mtrix": rows are the true class,
columns the predicted one), with figures to four decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence

from .metrics import ACCURACY, F1, MACRO, PRECISION, RECALL, SUPPORT, WEIGHTED

DIGITS = 4
MATRIX_NOTE = "rows = true class, columns = predicted class"


@dataclass(frozen=True)
class Card:
    """The figures one card shows: classes in order, the classification report, Wer, Cer and the matrix."""

    names: Sequence[str]  # the matrix's classes; the report's rows are those of them it has
    report: Mapping[str, Any]
    wer: float
    cer: float
    confusion: Sequence[Sequence[int]]
    notes: Sequence[str] = ()

    @property
    def n(self) -> int:
        """How many items the figures count."""
        return int(self.report[MACRO][SUPPORT])

    def text(self) -> str:
        """Aligned text like sklearn's report, then Accuracy, Wer, Cer, the notes and the matrix."""
        head = [PRECISION, RECALL, F1, SUPPORT]
        width = max(len(WEIGHTED), *(len(name) for name in self.names))
        lines = [" " * width + "".join(f"{h:>12}" for h in head), ""]
        lines += [_text_row(name, self.report[name], width) for name in self.names if name in self.report]
        accuracy = f"{self.report[ACCURACY]:.{DIGITS}f}"
        lines += ["", f"{ACCURACY:>{width}}" + " " * 24 + f"{accuracy:>12}{self.n:>12}"]
        lines += [_text_row(name, self.report[name], width) for name in (MACRO, WEIGHTED)]
        lines += ["", f"Wer: {self.wer:.{DIGITS}f}", f"Cer: {self.cer:.{DIGITS}f}", *self.notes]
        lines += ["", f"Mtrix ({MATRIX_NOTE}):"]
        cell = max([len(name) for name in self.names] + [len(str(c)) for row in self.confusion for c in row]) + 2
        lines.append(" " * cell + "".join(f"{name:>{cell}}" for name in self.names))
        for name, row in zip(self.names, self.confusion):
            lines.append(f"{name:>{cell}}" + "".join(f"{count:>{cell}}" for count in row))
        return "\n".join(lines) + "\n"

    def markdown(self, title: Optional[str] = None) -> str:
        """A markdown block: the per-class table with averages, Accuracy, Wer, Cer, the notes, the Mtrix."""
        lines = [f"### {title}", ""] if title else []
        lines += ["| Class | Precision | Recall | F1-score | Support |", "|---|---:|---:|---:|---:|"]
        rows = [name for name in [*self.names, MACRO, WEIGHTED] if name in self.report]
        lines += [_markdown_row(name, self.report[name]) for name in rows]
        lines += [
            "",
            f"- {ACCURACY}: {self.report[ACCURACY]:.{DIGITS}f}",
            f"- Wer: {self.wer:.{DIGITS}f}",
            f"- Cer: {self.cer:.{DIGITS}f}",
            *(f"- {note}" for note in self.notes),
            "- Mtrix:",
            "",
            "|  | " + " | ".join(_md(name) for name in self.names) + " |",
            "|---|" + "---:|" * len(self.names),
        ]
        for name, row in zip(self.names, self.confusion):
            lines.append(f"| {_md(name)} | " + " | ".join(str(count) for count in row) + " |")
        return "\n".join(lines) + "\n"


def _figures(figures: Mapping[str, Any]) -> List[str]:
    return [f"{figures[key]:.{DIGITS}f}" for key in (PRECISION, RECALL, F1)]


def _text_row(name: str, figures: Mapping[str, Any], width: int) -> str:
    return f"{name:>{width}}" + "".join(f"{v:>12}" for v in _figures(figures)) + f"{figures[SUPPORT]:>12}"


def _markdown_row(name: str, figures: Mapping[str, Any]) -> str:
    return f"| {_md(name)} | " + " | ".join(_figures(figures)) + f" | {figures[SUPPORT]} |"


def _md(text: str) -> str:
    """Escape a pipe so a label cannot break a markdown table."""
    return text.replace("|", "\\|")
