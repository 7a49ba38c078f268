"""An Alignment written out: JSON, CTM (NIST time-marked units), Praat TextGrid (praatio, the ``align`` extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .alignment import Alignment
from .errors import MissingExtraError

FORMATS = ("json", "ctm", "textgrid")
SUFFIXES = {"json": ".json", "ctm": ".ctm", "textgrid": ".TextGrid"}
PHONE_TIER, WORD_TIER = "phones", "words"
DIGITS = 4  # boundaries in files are rounded to 0.1 ms: far below a frame (20 ms), so no interval vanishes


def to_json(alignment: Alignment, name: str) -> str:
    """One line of JSON: the file's NAME, then the alignment."""
    return json.dumps({"path": name, **alignment.to_dict()}, ensure_ascii=False)


def to_ctm(alignment: Alignment, name: str, channel: str = "1") -> str:
    """CTM lines ``name channel start duration unit [score]``, one per unit (start and duration in seconds)."""
    lines = []
    for start, end, unit in _boundaries(alignment):
        score = "" if unit.score is None else f" {unit.score:.4f}"
        lines.append(f"{name} {channel} {start:.{DIGITS}f} {end - start:.{DIGITS}f} {unit.text}{score}")
    return "\n".join(lines) + "\n"


def word_intervals(alignment: Alignment) -> list[tuple[float, float, str]]:
    """The word/class tier: one interval over all units, named by the class (label: name) or the transcript."""
    start, end = _boundaries(alignment)[0][0], _boundaries(alignment)[-1][1]
    if alignment.label is not None:
        text = f"{alignment.label}: {alignment.name}" if alignment.name else alignment.label
    else:
        text = alignment.transcript
    return [(start, end, text)]


def write_textgrid(alignment: Alignment, path: Path) -> Path:
    """Write a long-form TextGrid with a phone tier and a word/class tier; gaps become empty intervals.

    Raises:
        MissingExtraError: praatio (the ``align`` extra) is not installed.
    """
    try:
        from praatio import textgrid
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            f"TextGrid output needs the align extra ({exc.name} is not installed): pip install 'phonedge[align]'"
        ) from None
    xmax = _round(alignment.duration)
    phones = [(s, e, u.text) for s, e, u in _boundaries(alignment)]
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=xmax)
    for name, entries in ((PHONE_TIER, phones), (WORD_TIER, word_intervals(alignment))):
        grid.addTier(textgrid.IntervalTier(name, entries, 0.0, xmax))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True, reportingMode="error")
    return Path(path)


def write(alignment: Alignment, fmt: str, folder: Path, stem: str, name: str) -> Path:
    """Write ALIGNMENT as FMT to FOLDER/STEM plus the format's suffix; NAME is the file name inside JSON and CTM."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (stem + SUFFIXES[fmt])
    if fmt == "textgrid":
        return write_textgrid(alignment, path)
    text = to_json(alignment, name) + "\n" if fmt == "json" else to_ctm(alignment, name)
    path.write_text(text, encoding="utf-8")
    return path


def _round(seconds: float) -> float:
    return round(float(seconds), DIGITS)


def _boundaries(alignment: Alignment) -> list[tuple[float, float, Any]]:
    """Each unit's (start, end, unit), rounded and clamped into [0, duration] so that Praat accepts them."""
    xmax = _round(alignment.duration)
    return [(min(_round(u.start), xmax), min(_round(u.end), xmax), u) for u in alignment.units]
