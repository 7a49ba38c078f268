"""One reader for phonedge's tables: eval lists and class labels follow the same rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonedge.errors import EvalListError, ExportError
from phonedge.evaluate import read_eval_list
from phonedge.table import read_table


def test_bom_case_order_extra_columns_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("\ufeff Name\tLABEL\textra\n\n a \t 1 \tx\n\t\t\nb\t2\ty\n", encoding="utf-8")
    rows = read_table(path, ("label", "name"), EvalListError, "table")
    assert rows == [(3, {"label": "1", "name": "a"}), (5, {"label": "2", "name": "b"})]


@pytest.mark.parametrize(("name", "text"), [("t.csv", "label,name\n1,a\n"), ("t.txt", "label\tname\n1\ta\n"),
                                            ("t.txt", "label,name\n1,a\n")])
def test_delimiter_by_suffix_then_by_header(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert read_table(path, ("label", "name"), EvalListError, "table") == [(2, {"label": "1", "name": "a"})]


@pytest.mark.parametrize("row", ["1\ta\tz iy\textra", "1\ta"])
def test_row_width_must_match_the_header_in_both_readers(tmp_path: Path, row: str) -> None:
    from phonedge_export.labels import read_labels

    labels = tmp_path / "labels.tsv"
    labels.write_text(f"label\tname\ttranscript\n{row}\n", encoding="utf-8")
    with pytest.raises(ExportError, match=r"labels.tsv:2: expected 3 fields like the header"):
        read_labels(labels)
    manifest = tmp_path / "eval.tsv"
    manifest.write_text(f"path\ttranscript\tlabel\n{row}\n", encoding="utf-8")
    with pytest.raises(EvalListError, match=r"eval.tsv:2: expected 3 fields like the header"):
        read_eval_list(manifest)


def test_labels_read_with_a_bom_and_any_header_case(tmp_path: Path) -> None:
    from phonedge_export.labels import read_labels

    path = tmp_path / "labels.tsv"
    path.write_text("\ufeffLabel\tName\tTranscript\n0\tzero\tz ih r ow\n", encoding="utf-8")
    (label,) = read_labels(path)
    assert (label.label, label.name, label.transcript) == ("0", "zero", "z ih r ow")
