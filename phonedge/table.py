"""The one reader of phonedge's tabular files (eval lists, class labels): TSV or CSV with a header row.

Rules: UTF-8 text, a byte-order mark ignored; a tab delimiter for ``.tsv``, a comma for ``.csv``,
otherwise a tab when the first line has one and a comma when not; the header names the columns
(any order, case and surrounding spaces ignored, extra columns allowed); blank lines skipped;
every data row has exactly as many fields as the header; cells are stripped.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Type

from .errors import PhonedgeError

Row = Tuple[int, Dict[str, str]]


def read_table(path: Path, columns: Sequence[str], error: Type[PhonedgeError], what: str) -> List[Row]:
    """The data rows of the table at PATH as (line number, {column: cell}) for the named COLUMNS.

    Raises ERROR (naming WHAT the file is, and the line) for unreadable or empty text, a malformed
    row, a header lacking or doubling a column, or a row whose width differs from the header's.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read the {what} as UTF-8 text ({exc})") from exc
    if not text.strip():
        raise error(f"{path}: the {what} is empty; it needs a header row naming {', '.join(columns)}")
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter(path, text))
    try:
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise error(f"{path}:{reader.line_num}: malformed row ({exc})") from exc
    header_line, header = rows[0]
    where = _columns(path, header_line, header, columns, error, what)
    table = []
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise error(f"{path}:{line}: expected {len(header)} fields like the header, got {len(row)}")
        table.append((line, {name: row[index].strip() for name, index in where.items()}))
    return table


def delimiter(path: Path, text: str) -> str:
    """Tab for .tsv, comma for .csv, else a tab if the first line has one."""
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".csv"):
        return "\t" if suffix == ".tsv" else ","
    first = text.lstrip().splitlines()[0]
    return "\t" if "\t" in first else ","


def _columns(
    path: Path, line: int, header: List[str], columns: Sequence[str], error: Type[PhonedgeError], what: str
) -> Dict[str, int]:
    """Position of each required column in the header."""
    names = [cell.strip().lower() for cell in header]
    missing = [name for name in columns if name not in names]
    if missing:
        raise error(
            f"{path}:{line}: the header lacks column(s) {', '.join(missing)}; "
            f"it must name {', '.join(columns)} (got {header})"
        )
    doubled = [name for name in columns if names.count(name) > 1]
    if doubled:
        raise error(f"{path}:{line}: the header names {', '.join(doubled)} more than once")
    return {name: names.index(name) for name in columns}
