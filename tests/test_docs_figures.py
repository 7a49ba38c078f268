"""Figures quoted in the README and docs/ are RESULTS.md's: each one is some measured value, as rounded there."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> list[str]:
    """The numbers of TEXT as written (thousands separators kept)."""
    return NUMBER.findall(text)


def _value(written: str) -> Decimal:
    return Decimal(written.replace(",", ""))


def measured(figure: str, results: list[str]) -> bool:
    """Whether some number of RESULTS, rounded to FIGURE's decimals, is FIGURE."""
    target = _value(figure)
    places = Decimal(1).scaleb(-len(figure.split(".")[1])) if "." in figure else Decimal(1)
    return any(_value(r).quantize(places, rounding=ROUND_HALF_UP) == target for r in results)


def glance_table() -> str:
    """The README's "Results at a glance" table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Results at a glance", 1)[1]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def test_glance_table_figures_are_measured() -> None:
    results = numbers((ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8"))
    figures = [n for n in numbers(glance_table()) if n not in {"1", "3", "10", "30", "53", "120"}]
    assert len(figures) > 40
    missing = [f for f in figures if not measured(f, results)]
    assert missing == [], f"README figures not in benchmarks/RESULTS.md: {missing}"


def test_open_set_figures_are_measured() -> None:
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    section = text.split("<!-- section:open-set -->", 1)[1].split("<!-- /section:open-set -->", 1)[0]
    results = numbers(section)
    quoted = (ROOT / "docs" / "open-set.md").read_text(encoding="utf-8").split("## What was measured", 1)[1]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted += readme.split("On the\nreference bundle:", 1)[1].split("\n\n", 1)[0]
    figures = [n for n in numbers(quoted) if n not in {"0", "1", "2", "3", "4", "8", "9", "57"}]
    assert len(figures) >= 6
    missing = [f for f in figures if not measured(f, results)]
    assert missing == [], f"open-set figures not in RESULTS.md's open-set section: {missing}"


def test_the_checker_catches_a_changed_figure() -> None:
    assert measured("2,510", ["2,509.9"]) and measured("3.22", ["3.2214"]) and measured("98.3", ["98.33"])
    assert not measured("2,511", ["2,509.9"]) and not measured("3.23", ["3.2214"])
