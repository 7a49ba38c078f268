"""Read the model card's class labels from a TSV file (header row; columns label, name, transcript)."""

from __future__ import annotations

import csv
from pathlib import Path

from phonedge.errors import ExportError
from phonedge.manifest import ClassLabel

LABEL_COLUMNS = ("label", "name", "transcript")


def read_labels(path: Path) -> list[ClassLabel]:
    """Class labels from a tab-separated file whose header names the columns label, name and transcript."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"labels file not found: {path} (a TSV file with the header: label, name, transcript)")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
    except UnicodeDecodeError as exc:
        raise ExportError(f"{path}: labels file is not UTF-8 text ({exc})") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ExportError(f"{path}: labels file is empty; expected a header row: {chr(9).join(LABEL_COLUMNS)}")
    header = [cell.strip() for cell in rows[0]]
    missing = [column for column in LABEL_COLUMNS if column not in header]
    if missing:
        raise ExportError(f"{path}: header {header} lacks the column(s) {', '.join(missing)} (tab-separated)")
    where = {column: header.index(column) for column in LABEL_COLUMNS}
    labels, seen = [], set()
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            raise ExportError(f"{path}:{line}: expected {len(header)} tab-separated fields, got {len(row)}")
        label, name, transcript = (row[where[column]].strip() for column in LABEL_COLUMNS)
        if not label:
            raise ExportError(f"{path}:{line}: empty label")
        if label in seen:
            raise ExportError(f"{path}:{line}: duplicate label {label!r}")
        seen.add(label)
        labels.append(ClassLabel(label=label, transcript=transcript, name=name))
    return labels
