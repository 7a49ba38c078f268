"""Read the model card's class labels from a TSV file (header row; columns label, name, transcript)."""

from __future__ import annotations

from pathlib import Path

from phonedge.errors import ExportError
from phonedge.manifest import ClassLabel
from phonedge.table import read_table

LABEL_COLUMNS = ("label", "name", "transcript")


def read_labels(path: Path) -> list[ClassLabel]:
    """Class labels from a table (phonedge.table's rules) whose header names label, name and transcript."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"labels file not found: {path} (a TSV file with the header: label, name, transcript)")
    labels, seen = [], set()
    for line, row in read_table(path, LABEL_COLUMNS, ExportError, "labels file"):
        if not row["label"]:
            raise ExportError(f"{path}:{line}: empty label")
        if row["label"] in seen:
            raise ExportError(f"{path}:{line}: duplicate label {row['label']!r}")
        seen.add(row["label"])
        labels.append(ClassLabel(label=row["label"], transcript=row["transcript"], name=row["name"]))
    return labels
