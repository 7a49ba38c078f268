"""Batch output folder: the row schema round trip, atomic parts, retried-error removal, the writer lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonedge.batch.schema import FIELDS, error_row, from_arrow, from_json, ok_row, to_arrow, to_json
from phonedge.batch.store import OutputDir, PartWriter, read_part, read_rows
from phonedge.errors import BatchOutputError
from phonedge.result import AlignedUnit, Alignment, Prediction, Token

def _need(fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="Parquet output needs phonedge[batch] (pyarrow)")


def sample_rows() -> list[dict]:
    pred = Prediction(text="w ah n", tokens=[Token("w", 5, 0.02, 0.06, 0.875), Token("ah", 7, 0.1, 0.14, 1 / 3),
                                             Token("n", 9, 0.2, 0.22, 0.5)],
                      confidence=0.9, duration=0.61234567891, label="1",
                      label_probs={"0": 0.1, "1": 0.7000000000000001, "2": 1e-300, "3": 0.2})
    bare = Prediction(text="", tokens=[], confidence=0.0, duration=0.5)
    units = [AlignedUnit("w", 5, 0.0, 0.1, 0.99, None, 0, 5), AlignedUnit("ah", 7, 0.1, 0.2, 1 / 3, "eh", 5, 10),
             AlignedUnit("n", 9, 0.2, 0.3, None, None, 10, 15)]
    aligned = Prediction(text="w ah n", tokens=[], confidence=0.9, duration=0.3, label="1",
                         label_probs={"1": 1.0}, label_score=-0.5,
                         alignment=Alignment("w ah n", units, 0.7, -0.36, -1.0, -1.5, 0.3, "1", "one"))
    return [ok_row("a.wav", pred, "d1"), ok_row("b é.wav", bare, "d1"),
            error_row("c.wav", "cannot decode c.wav", "d1"), ok_row("e.wav", aligned, "d1")]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_rows_round_trip_exactly(tmp_path: Path, fmt: str) -> None:
    _need(fmt)
    rows = sample_rows()
    with OutputDir(tmp_path / "out", fmt) as out:
        writer = PartWriter(out, rows_per_part=2)
        for row in rows:
            writer.add(row)
        writer.flush()
    back = read_rows(tmp_path / "out")
    assert back == rows and all(list(r) == list(FIELDS) for r in back)
    assert [p.name for p in sorted((tmp_path / "out").glob("part-*"))] == [f"part-00000{i}.{fmt}" for i in (1, 2)]
    assert back[3]["alignment"][1] == {"text": "ah", "start": 0.1, "end": 0.2, "score": 1 / 3, "preferred": "eh"}
    assert back[3]["alignment_score"] == 0.7 and back[0]["alignment"] is None


def test_parts_written_before_the_alignment_columns_still_read() -> None:
    pytest.importorskip("pyarrow", reason="needs pyarrow")
    table = to_arrow(sample_rows()[:3])
    old = table.drop_columns(["alignment", "alignment_score"])
    assert from_arrow(old) == from_arrow(table)


def test_arrow_and_json_forms_agree() -> None:
    pytest.importorskip("pyarrow", reason="needs pyarrow")
    rows = sample_rows()
    assert from_arrow(to_arrow(rows)) == rows == [from_json(to_json(r)) for r in rows]
    assert from_arrow(to_arrow(rows))[0]["tokens"][1]["confidence"] == 1 / 3  # float64, bit for bit


def test_parquet_types_are_queryable() -> None:
    pa = pytest.importorskip("pyarrow", reason="needs pyarrow")
    schema = to_arrow(sample_rows()).schema
    assert schema.field("tokens").type == pa.list_(pa.struct([("text", pa.string()), ("start", pa.float64()),
                                                             ("end", pa.float64()), ("confidence", pa.float64())]))
    assert schema.field("label_probs").type == pa.map_(pa.string(), pa.float64())
    assert schema.names == list(FIELDS)


def test_writer_refuses_rows_of_another_shape(tmp_path: Path) -> None:
    with OutputDir(tmp_path, "jsonl") as out:
        with pytest.raises(BatchOutputError, match="differ from the schema"):
            PartWriter(out).add({"path": "x"})


def test_half_written_part_is_ignored_and_cleared(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    with OutputDir(out_dir, "jsonl") as out:
        PartWriter(out, rows_per_part=1).add(sample_rows()[0])
    stale = out_dir / ".part-000002.jsonl.tmp"
    stale.write_text('{"path": "half')  # what a kill during a write leaves
    assert len(read_rows(out_dir)) == 1
    with OutputDir(out_dir, "jsonl") as out:
        assert not stale.exists()
        assert out.next_part().name == "part-000002.jsonl"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_drop_errors_rewrites_parts_in_place(tmp_path: Path, fmt: str) -> None:
    _need(fmt)
    rows = sample_rows()[:3]
    with OutputDir(tmp_path, fmt) as out:
        writer = PartWriter(out, rows_per_part=2)
        for row in rows + [error_row("d.wav", "boom", "d1")]:
            writer.add(row)
        writer.flush()
        assert out.drop_errors({("c.wav", "d1"), ("d.wav", "d1"), ("a.wav", "d1")}) == 2  # ok rows stay
        assert out.drop_errors({("c.wav", "other-digest")}) == 0
    assert [r["path"] for r in read_rows(tmp_path)] == ["a.wav", "b é.wav"]
    assert [p.name for p in sorted(tmp_path.glob("part-*"))] == [f"part-000001.{fmt}"]  # the emptied part is gone


def test_second_writer_is_refused(tmp_path: Path) -> None:
    with OutputDir(tmp_path, "jsonl"):
        with pytest.raises(BatchOutputError, match="another phonedge batch run"):
            OutputDir(tmp_path, "jsonl").__enter__()


def test_other_format_is_refused(tmp_path: Path) -> None:
    with OutputDir(tmp_path, "jsonl") as out:
        PartWriter(out, rows_per_part=1).add(sample_rows()[0])
    with pytest.raises(BatchOutputError, match="another format"):
        with OutputDir(tmp_path, "parquet"):
            pass


def test_out_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(BatchOutputError, match="is a file"):
        with OutputDir(tmp_path / "f", "jsonl"):
            pass


def test_damaged_part_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "part-000001.parquet").write_bytes(b"PAR1 garbage")
    pytest.importorskip("pyarrow", reason="needs pyarrow")
    with pytest.raises(BatchOutputError, match="cannot read part file"):
        read_part(tmp_path / "part-000001.parquet")


def test_importing_the_batch_package_loads_neither_pyarrow_nor_ray() -> None:
    import subprocess
    import sys

    code = ("import sys, phonedge.batch, phonedge.cli\n"
            "heavy = [m for m in ('pyarrow', 'ray', 'pandas') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pyarrow":
            raise ModuleNotFoundError("pyarrow is blocked for this test", name=name)
sys.meta_path.insert(0, Block())
from phonedge.cli import main
sys.argv = ["phonedge", "batch", "--model", {str(tmp_path)!r}, "--out", {str(tmp_path / "o")!r}, "x.wav"]
main()
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "pip install 'phonedge[batch]'" in res.stderr and "Traceback" not in res.stderr
