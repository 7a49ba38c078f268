"""benchmarks/common/sections.py: the separate benchmarks' RESULTS.md sections survive each other's reruns."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import sections

REPORT = "# Results\n\n## Speed\n\nfast\n\n## Notes\n\n- x\n"


def test_put_appends_then_replaces_only_its_own_section() -> None:
    doc = sections.put(REPORT, "serve", "## Serve\n\nv1")
    doc = sections.put(doc, "batch", "## Batch\n\nb1")
    doc = sections.put(doc, "serve", "## Serve\n\nv2")
    assert doc.startswith(REPORT.rstrip("\n"))
    assert "v2" in doc and "v1" not in doc and doc.count("## Serve") == 1 and "b1" in doc
    assert doc.index("## Notes") < doc.index("## Serve") < doc.index("## Batch")
    assert sections.put(doc, "serve", "  ") .count("## Serve") == 0  # a blank body removes the section


def test_carry_over_keeps_sections_a_regenerated_report_lacks() -> None:
    old = sections.put(sections.put(REPORT, "serve", "## Serve\n\nkept"), "gpu", "## GPU run\n\nold gpu")
    new = sections.put("# Results\n\n## Speed\n\nfaster\n", "gpu", "## GPU run\n\nnew gpu")
    merged = sections.carry_over(old, new)
    assert "faster" in merged and "fast\n" not in merged.replace("faster", "")
    assert "kept" in merged and "new gpu" in merged and "old gpu" not in merged
    assert list(sections.blocks(merged)) == ["gpu", "serve"]


def test_write_and_cli(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    md.write_text(REPORT, encoding="utf-8")
    sections.write("streaming", "## Streaming\n\n1", md)
    sections.write("streaming", "## Streaming\n\n2", md)
    text = md.read_text(encoding="utf-8")
    assert text.count("## Streaming") == 1 and "\n2\n" in text and text.startswith("# Results")
    assert sections.main([]) == 2
