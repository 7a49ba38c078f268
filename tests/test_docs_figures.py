"""Figures quoted in the README and docs/ are RESULTS.md's: each one is some measured value, as rounded there."""

from __future__ import annotations

import math
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


def section_numbers(name: str) -> list[str]:
    """The numbers of one RESULTS.md section."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    return numbers(text.split(f"<!-- section:{name} -->", 1)[1].split(f"<!-- /section:{name} -->", 1)[0])


def test_alignment_figures_are_measured() -> None:
    doc = (ROOT / "docs" / "alignment.md").read_text(encoding="utf-8")
    quoted = doc.split("Measured (RESULTS.md):", 1)[1].split("\n\n", 1)[0]
    quoted += doc.split("## Accuracy, and what limits it", 1)[1]
    figures = [n for n in numbers(quoted) if n not in {"1", "2", "3", "4", "10", "86", "120"}]
    assert len(figures) >= 10
    results = section_numbers("alignment")
    missing = [f for f in figures if not measured(f, results)]
    assert missing == [], f"docs/alignment.md figures not in RESULTS.md's alignment section: {missing}"


def test_live_audio_figures_are_measured() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted = readme.split("Live audio (`rec.stream()`", 1)[1].split("Long audio:", 1)[0]
    quoted = re.sub(r"\d+(?:\.\d+)?x", "", quoted)  # ratios of two measured figures
    figures = [n for n in numbers(quoted) if n not in {"0.6", "1.5", "2", "53", "8", "50", "90", "120"}]
    assert len(figures) >= 6
    results = section_numbers("live-vs-vad")
    missing = [f for f in figures if not measured(f, results)]
    assert missing == [], f"README live-audio figures not in RESULTS.md's live-vs-vad section: {missing}"


# Figures with a unit in docs/ that are not measurements in RESULTS.md or benchmarks/results/*.md, and why.
NOT_FROM_RESULTS = {
    "export.md": {"9.6": "an export's wall time noted when the exporter's design was chosen"},
    "gpu.md": {"26.0": "benchmarks/results/gpu-*.json (the H100 run's batch row; the .md table rounds it)"},
    "on-device.md": {"1.36": "RESULTS' 1,358 MiB (Node, native) written in GiB"},
    "platforms.md": {"683": "the arm64 suite's time under QEMU, benchmarks/results/portability.json (emulated_s)",
                     **{f: "the ARM estimate table, computed by benchmarks/platforms/arm_estimates.py"
                        for f in ("151", "480", "1,874", "1,799", "551", "703")}},
    "quantization.md": {"1.25": "the goal (x the compute floor), not a measurement"},
    "runtime.md": {"3.84": "arithmetic: 16,000 float32 samples a second for a minute",
                   "3,200": "arithmetic: 16,000 samples a second through the first convolution's stride of 5",
                   "397": "a malloc_trim measurement made when that rule was chosen",
                   "539": "a memory-pattern measurement made when that rule was chosen"},
}
UNIT_FIGURE = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(?:ms|MiB|MB|GB|GiB|%|s\b|x\b|×)")


def test_docs_figures_with_units_are_measured() -> None:
    """Every figure with a unit in the README and on a docs/ page is a measurement of RESULTS.md (or a run's
    table), or listed above."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    text += "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "benchmarks" / "results").glob("*.md")))
    results = numbers(text)
    missing = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        allowed = NOT_FROM_RESULTS.get(page.name, {})
        figures = UNIT_FIGURE.findall(page.read_text(encoding="utf-8"))
        odd = sorted({f for f in figures if f not in allowed and not measured(f, results)})
        if odd:
            missing[page.name] = odd
    assert missing == {}, f"docs figures found nowhere in the benchmark results: {missing}"


def test_the_checker_catches_a_changed_figure() -> None:
    assert measured("2,510", ["2,509.9"]) and measured("3.22", ["3.2214"]) and measured("98.3", ["98.33"])
    assert not measured("2,511", ["2,509.9"]) and not measured("3.23", ["3.2214"])


def corpus_plan() -> str:
    """docs/corpus-scale.md from its 10,000-hour plan to the end (the YAML and KubeRay text included)."""
    text = (ROOT / "docs" / "corpus-scale.md").read_text(encoding="utf-8")
    return text.split("**10,000 hours on a Ray cluster.**", 1)[1]


def _one(pattern: str, text: str) -> str:
    found = re.findall(pattern, text)
    assert len(set(found)) == 1, f"{pattern!r}: {found}"
    return found[0]


def plan_figures(text: str) -> dict[str, int]:
    """The plan's figures as the doc writes them, and what its own inputs make of them."""
    hours, turnaround = 10_000, 24
    rate = float(_one(r"\*\*(\d+(?:\.\d+)?) audio-hours per vCPU-hour\*\*", text))
    headroom = int(_one(r"with (\d+)% headroom", text)) / 100
    per_node = int(_one(r"worker nodes of (\d+) vCPUs", text))
    factor = float(_one(r"vCPUs per node x (\d\.\d+)\)", text))  # the general formula's share left to compute
    assert factor == round(1 / (1 + headroom), 2)
    demand = round(hours / turnaround)
    vcpus = math.ceil(demand / rate)
    return {
        "demand": demand, "vcpus": vcpus, "with_headroom": math.ceil(vcpus * (1 + headroom)),
        "nodes": math.ceil(math.ceil(vcpus * (1 + headroom)) / per_node),
        "formula_nodes": math.ceil(hours / turnaround / (rate * per_node * factor)),
        "written_demand": int(_one(r"10,000 h / 24 h = (\d+) audio-hours per hour", text)),
        "written_vcpus": int(_one(r"that is (\d+) vCPUs of compute", text)),
        "written_with_headroom": int(_one(r"headroom[^)]*\) (\d+) vCPUs", text)),
        "written_nodes": int(_one(r"\*\*(\d+) worker nodes of", text)),
        "yaml_max_workers": int(_one(r"\nmax_workers: (\d+)", text)),
        "group_min_workers": int(_one(r"\n    min_workers: (\d+)", text)),
        "group_max_workers": int(_one(r"\n    max_workers: (\d+)", text)),
        "kuberay_replicas": int(_one(r"worker group of (\d+) replicas", text)),
        "kuberay_cpus": int(_one(r"replicas requesting (\d+) CPUs", text)),
        "per_node": per_node,
    }


def _plan_agrees(f: dict[str, int]) -> bool:
    nodes = {f["nodes"], f["formula_nodes"], f["written_nodes"], f["yaml_max_workers"], f["group_min_workers"],
             f["group_max_workers"], f["kuberay_replicas"]}
    return (f["demand"] == f["written_demand"] and f["vcpus"] == f["written_vcpus"]
            and f["with_headroom"] == f["written_with_headroom"] and len(nodes) == 1
            and f["kuberay_cpus"] == f["per_node"])


def test_corpus_plan_numbers_agree() -> None:
    figures = plan_figures(corpus_plan())
    assert _plan_agrees(figures), figures
    assert "chunked (20 s)" not in corpus_plan() and "10 s windows" in corpus_plan()


def test_control_a_stale_node_count_is_caught() -> None:
    assert not _plan_agrees(plan_figures(corpus_plan().replace("max_workers: 6\nprovider", "max_workers: 5\nprovider")))
