"""The batch output's row: its fields and types in one place, as Python dicts, Arrow tables and JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .._version import __version__
from ..errors import MissingExtraError
from ..result import Prediction

STATUS_OK = "ok"
STATUS_ERROR = "error"
# Column order of every part file, Parquet or JSON lines.
FIELDS = (
    "path", "status", "error", "duration", "text", "tokens", "label", "label_probs", "label_score", "label_reason",
    "alignment", "alignment_score", "bundle_digest", "phonedge_version",
)
TOKEN_FIELDS = ("text", "start", "end", "confidence")  # a token of the ``tokens`` column
# A unit of the ``alignment`` column (the decided class aligned, with --align): its times, score, preferred rival.
UNIT_FIELDS = ("text", "start", "end", "score", "preferred")
_STRINGS = ("text", "preferred")

Row = dict[str, Any]


def ok_row(path: str, pred: Prediction, digest: str) -> Row:
    """The row of an input the recogniser transcribed."""
    return {
        "path": path,
        "status": STATUS_OK,
        "error": None,
        "duration": float(pred.duration),
        "text": pred.text,
        "tokens": [{name: t.text if name == "text" else float(getattr(t, name)) for name in TOKEN_FIELDS}
                   for t in pred.tokens],
        "label": pred.label,
        "label_probs": None if pred.label_probs is None else {k: float(v) for k, v in pred.label_probs.items()},
        "label_score": None if pred.label_score is None else float(pred.label_score),
        "label_reason": pred.label_reason,
        "alignment": None if pred.alignment is None else [
            {name: _unit_value(getattr(u, name), name) for name in UNIT_FIELDS} for u in pred.alignment.units],
        "alignment_score": None if pred.alignment is None or pred.alignment.score is None
        else float(pred.alignment.score),
        "bundle_digest": digest,
        "phonedge_version": __version__,
    }


def _unit_value(value: Any, name: str) -> Any:
    return value if name in _STRINGS or value is None else float(value)


def error_row(path: str, message: str, digest: str) -> Row:
    """The row of an input that failed, with the reason."""
    row: Row = dict.fromkeys(FIELDS)
    row.update(path=path, status=STATUS_ERROR, error=message, bundle_digest=digest, phonedge_version=__version__)
    return row


def pyarrow() -> Any:
    """The pyarrow module, or a clear error naming the extra that installs it."""
    try:
        import pyarrow as pa
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            "Parquet output needs pyarrow: pip install 'phonedge[batch]' (or write --format jsonl)"
        ) from exc
    return pa


def arrow_schema() -> Any:
    """The Parquet/Arrow schema of a row (label_probs as a map from label to probability)."""
    pa = pyarrow()

    token = pa.struct([(name, pa.string() if name == "text" else pa.float64()) for name in TOKEN_FIELDS])
    unit = pa.struct([(name, pa.string() if name in _STRINGS else pa.float64()) for name in UNIT_FIELDS])
    types = {
        "path": pa.string(), "status": pa.string(), "error": pa.string(), "duration": pa.float64(),
        "text": pa.string(), "tokens": pa.list_(token), "label": pa.string(),
        "label_probs": pa.map_(pa.string(), pa.float64()), "label_score": pa.float64(), "label_reason": pa.string(),
        "alignment": pa.list_(unit), "alignment_score": pa.float64(), "bundle_digest": pa.string(),
        "phonedge_version": pa.string(),
    }
    return pa.schema([(name, types[name]) for name in FIELDS])


def to_arrow(rows: Iterable[Row]) -> Any:
    """An Arrow table of rows, in the row schema."""
    pa = pyarrow()

    schema = arrow_schema()
    cols: dict[str, list[Any]] = {name: [] for name in FIELDS}
    for row in rows:
        for name in FIELDS:
            value = row[name]
            if name == "label_probs" and value is not None:
                value = list(value.items())
            cols[name].append(value)
    return pa.Table.from_arrays([pa.array(cols[f.name], type=f.type) for f in schema], schema=schema)


def from_arrow(table: Any) -> list[Row]:
    """Rows of an Arrow table or record batch in the row schema, as plain dicts (columns it lacks as None)."""
    have = [name for name in FIELDS if name in table.schema.names]  # parts written before a column existed
    rows = [{name: row.get(name) for name in FIELDS} for row in table.select(have).to_pylist()]
    for row in rows:
        if row["label_probs"] is not None:
            row["label_probs"] = dict(row["label_probs"])
    return rows


def to_json(row: Row) -> str:
    """One JSON line of a row, fields in schema order."""
    return json.dumps({name: row[name] for name in FIELDS}, ensure_ascii=False)


def from_json(line: str) -> Row:
    """A row from one JSON line."""
    data = json.loads(line)
    return {name: data.get(name) for name in FIELDS}
