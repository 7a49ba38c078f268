"""A small run of benchmarks/serving/serve_load.py end to end (the full run is `make bench-serve`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("websockets")
pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_small_load_run(reference_bundles: dict[str, Path], tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from benchmarks.serving import serve_load

    md = tmp_path / "RESULTS.md"
    md.write_text("# results\n\n## Speed\n\nkept\n", encoding="utf-8")
    code = serve_load.main(["--bundle", str(reference_bundles["int8"]), "--streams", "2", "--posts", "6",
                            "--rounds", "1", "--time-limit", "120", "--out", str(tmp_path), "--md", str(md)])
    record = json.loads((tmp_path / "serve_load.json").read_text())
    s = record["summary"]
    assert code == 0, s
    assert s["finals_expected"] == s["finals_received"] == s["finals_identical"] >= 8 and s["finals_lost"] == 0
    assert s["posts_ok"] == s["posts_same_as_predict"] == 6 and s["errors"] == 0
    assert len(s["rss_mib"]) == 2 and record["server_exit_code"] == 0
    text = md.read_text()
    assert "## Speed\n\nkept" in text and "## Serve (live service under load)" in text
