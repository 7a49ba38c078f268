"""The output folder: part files committed by atomic rename, one writer at a time, and reading them back.

A part is written under a hidden temporary name (``.part-000007.parquet.tmp``), flushed to disk and
renamed into place, so a part either exists whole or not at all: a killed run leaves at most a
temporary file, which readers ignore (Arrow and DuckDB skip hidden files) and the next run deletes.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from ..errors import BatchOutputError
from .schema import FIELDS, STATUS_ERROR, Row, from_arrow, from_json, pyarrow, to_arrow, to_json

FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl"}
PART_RE = re.compile(r"^part-(\d+)\.(parquet|jsonl)$")
TMP_SUFFIX = ".tmp"
LOCK_NAME = ".phonedge-batch.lock"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_part(final: Path, rows: list[Row], fmt: str) -> None:
    """Write ROWS as the part file FINAL: to a temporary name, synced, then renamed into place."""
    tmp = final.with_name(f".{final.name}{TMP_SUFFIX}")
    if fmt == "parquet":
        pyarrow()
        import pyarrow.parquet as pq

        pq.write_table(to_arrow(rows), tmp)
    else:
        tmp.write_text("".join(to_json(r) + "\n" for r in rows), encoding="utf-8")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def read_part(path: Path, columns: Optional[list[str]] = None) -> list[Row]:
    """The rows of one part file (only COLUMNS, when given)."""
    if path.suffix == ".parquet":
        pyarrow()
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path, columns=columns)
            if columns is not None:
                return table.to_pylist()
            return from_arrow(table)
        rows = [from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    except Exception as exc:  # pyarrow and json raise their own untyped errors for damaged files
        raise BatchOutputError(f"cannot read part file {path}: {exc}; move it away and rerun") from exc
    return rows if columns is None else [{c: r[c] for c in columns} for r in rows]


def part_files(out: Path) -> list[Path]:
    """The committed part files of an output folder, in the order they were written."""
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir() if (m := PART_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def read_rows(out: Path) -> list[Row]:
    """Every committed row of an output folder."""
    return [row for part in part_files(Path(out)) for row in read_part(part)]


class OutputDir:
    """An output folder held by one run: a lock against a second writer, its parts, new part names."""

    def __init__(self, out: Path, fmt: str) -> None:
        """Name the folder and the format of its parts; ``with`` takes the lock."""
        if fmt not in FORMATS:
            raise BatchOutputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.path = Path(out)
        self.fmt = fmt
        self._lock: Any = None
        self._last = 0

    def __enter__(self) -> OutputDir:
        import fcntl

        if self.path.exists() and not self.path.is_dir():
            raise BatchOutputError(f"--out {self.path} is a file; give a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path / LOCK_NAME, "a")
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise BatchOutputError(f"another phonedge batch run is writing to {self.path}; wait for it") from None
        other = [p.name for p in self.parts() if p.suffix != FORMATS[self.fmt]]
        if other:
            self.close()
            raise BatchOutputError(
                f"{self.path} holds parts of another format ({other[0]}, ...); "
                f"use that --format or another --out"
            )
        for stale in self.path.glob(f".part-*{TMP_SUFFIX}"):
            stale.unlink()  # left by a killed run; never renamed, so never part of the output
        parts = self.parts()
        self._last = int(PART_RE.match(parts[-1].name).group(1)) if parts else 0  # type: ignore[union-attr]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def parts(self) -> list[Path]:
        """The committed part files."""
        return part_files(self.path)

    def index(self) -> Iterator[Row]:
        """(path, status, bundle_digest) of every committed row."""
        for part in self.parts():
            yield from read_part(part, ["path", "status", "bundle_digest"])

    def next_part(self) -> Path:
        """The name of the next part file to write."""
        self._last += 1
        return self.path / f"part-{self._last:06d}{FORMATS[self.fmt]}"

    def drop_errors(self, keys: set[tuple[str, str]]) -> int:
        """Remove the error rows of (path, bundle_digest) KEYS, rewriting each part in place; count removed."""
        removed = 0
        for part in self.parts():
            index = read_part(part, ["path", "status", "bundle_digest"])
            if not any(r["status"] == STATUS_ERROR and (r["path"], r["bundle_digest"]) in keys for r in index):
                continue
            rows = read_part(part)
            kept = [r for r in rows if not (r["status"] == STATUS_ERROR and (r["path"], r["bundle_digest"]) in keys)]
            removed += len(rows) - len(kept)
            if kept:
                write_part(part, kept, self.fmt)  # atomic replace: the old or the new part, never both
            else:
                part.unlink()
        return removed


class PartWriter:
    """Collects rows and commits a part every ROWS_PER_PART rows or SECONDS_PER_PART seconds, and at close."""

    def __init__(self, out: OutputDir, rows_per_part: int = 1000, seconds_per_part: float = 60.0) -> None:
        """Write into OUT's folder."""
        if rows_per_part < 1:
            raise BatchOutputError(f"rows per part must be >= 1, got {rows_per_part}")
        self.out = out
        self.rows_per_part = rows_per_part
        self.seconds_per_part = seconds_per_part
        self._rows: list[Row] = []
        self._since = time.monotonic()
        self.parts_written = 0

    def add(self, row: Row) -> None:
        """Queue one row; commit a part when one is due."""
        if set(row) != set(FIELDS):
            raise BatchOutputError(f"row fields {sorted(row)} differ from the schema's {list(FIELDS)}")
        self._rows.append(row)
        if len(self._rows) >= self.rows_per_part or time.monotonic() - self._since >= self.seconds_per_part:
            self.flush()

    def flush(self) -> None:
        """Commit the queued rows as one part."""
        if self._rows:
            write_part(self.out.next_part(), self._rows, self.out.fmt)
            self.parts_written += 1
        self._rows = []
        self._since = time.monotonic()
